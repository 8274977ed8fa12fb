package gate.builtin.service_exposed_test

import data.gate.builtin.service_exposed.warn

svc(type) := {"kind": "Service", "metadata": {"name": "s"}, "spec": {"type": type}}

test_load_balancer_flagged if {
	some f in warn with input as svc("LoadBalancer")
	f.path == ["spec", "type"]
}

test_node_port_flagged if {
	count(warn) == 1 with input as svc("NodePort")
}

test_cluster_ip_allowed if {
	count(warn) == 0 with input as svc("ClusterIP")
}

test_default_type_allowed if {
	count(warn) == 0 with input as {"kind": "Service", "metadata": {"name": "s"}, "spec": {}}
}
