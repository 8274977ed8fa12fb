package main

import rego.v1

# Written without strict mode: unused variables and an unused argument.
replicas(obj, unused) := n if {
	spare := 1
	n := obj.spec.replicas
}

deny contains msg if {
	input.kind == "Deployment"
	other := input.metadata.namespace
	replicas(input, "x") < 2
	msg := sprintf("%s runs fewer than 2 replicas", [input.metadata.name])
}
