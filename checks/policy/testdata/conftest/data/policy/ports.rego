package main

import rego.v1

import data.blocked

deny contains msg if {
	input.kind == "Service"
	input.spec.type == "LoadBalancer"
	some p in input.spec.ports
	p.port in blocked.ports
	msg := sprintf("%s exposes blocked port %d on a load balancer", [input.metadata.name, p.port])
}
