package main

import rego.v1

# An empty name excepts the bare deny, violation and warn rules.
exception contains [""] if input.metadata.annotations["policy.example.com/legacy"] == "true"

deny contains msg if {
	input.kind == "Pod"
	msg := sprintf("%s: run pods through a Deployment", [input.metadata.name])
}

deny_host_network contains msg if {
	input.spec.hostNetwork
	msg := sprintf("%s: hostNetwork", [input.metadata.name])
}
