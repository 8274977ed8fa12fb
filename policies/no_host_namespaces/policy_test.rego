package gate.builtin.no_host_namespaces_test

import data.gate.builtin.no_host_namespaces.deny

deploy(spec) := {"kind": "Deployment", "metadata": {"name": "d"}, "spec": {"template": {"spec": spec}}}

test_host_network_denied if {
	some f in deny with input as deploy({"hostNetwork": true, "containers": []})
	f.path == ["spec", "template", "spec", "hostNetwork"]
}

test_each_namespace_reported if {
	count(deny) == 3 with input as deploy({"hostNetwork": true, "hostPID": true, "hostIPC": true})
}

test_false_allowed if {
	count(deny) == 0 with input as deploy({"hostNetwork": false, "containers": []})
}
