package main

import rego.v1

# The node agent needs a privileged container.
exception contains rules if {
	input.kind == "DaemonSet"
	startswith(input.metadata.name, "node-agent")
	rules := ["privileged"]
}

# Vendor images only publish :latest.
exception contains rules if {
	startswith(input.metadata.name, "vendor-")
	rules := ["floating_tag"]
}
