package main

import rego.v1

test_telnet_is_blocked if {
	svc := {"kind": "Service", "metadata": {"name": "t"}, "spec": {"type": "LoadBalancer", "ports": [{"port": 23}]}}
	deny["t exposes blocked port 23 on a load balancer"] with input as svc
}

test_https_is_fine if {
	svc := {"kind": "Service", "metadata": {"name": "t"}, "spec": {"type": "LoadBalancer", "ports": [{"port": 443}]}}
	count(deny) == 0 with input as svc
}
