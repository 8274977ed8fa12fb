package gate.builtin.resources_set_test

import data.gate.builtin.resources_set.deny

pod(resources) := {"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "app", "image": "a:1", "resources": resources}]}}

test_all_set_allowed if {
	count(deny) == 0 with input as pod({"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "128Mi"}})
}

test_missing_limits_denied if {
	some f in deny with input as pod({"requests": {"cpu": "100m", "memory": "64Mi"}})
	f.msg == `container "app" sets no limits.cpu, limits.memory`
	f.path == ["spec", "containers", 0, "resources"]
}

test_no_resources_denied if {
	p := {"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "app", "image": "a:1"}]}}
	some f in deny with input as p
	contains(f.msg, "requests.cpu, requests.memory, limits.cpu, limits.memory")
}

test_init_containers_checked if {
	p := {"kind": "Job", "metadata": {"name": "j"}, "spec": {"template": {"spec": {"initContainers": [{"name": "init", "image": "a:1"}], "containers": []}}}}
	count(deny) == 1 with input as p
}
