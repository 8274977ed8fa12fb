package gate.builtin.run_as_non_root_test

import data.gate.builtin.run_as_non_root.deny

pod(pod_sc, c_sc) := {"kind": "Pod", "metadata": {"name": "p"}, "spec": {"securityContext": pod_sc, "containers": [{"name": "app", "image": "a:1", "securityContext": c_sc}]}}

test_pod_level_allowed if {
	count(deny) == 0 with input as pod({"runAsNonRoot": true}, {})
}

test_container_level_allowed if {
	count(deny) == 0 with input as pod({}, {"runAsNonRoot": true})
}

test_non_zero_user_allowed if {
	count(deny) == 0 with input as pod({"runAsUser": 1000}, {})
}

test_unset_denied if {
	some f in deny with input as pod({}, {})
	f.path == ["spec", "containers", 0, "securityContext"]
}

test_container_overrides_pod if {
	some f in deny with input as pod({"runAsNonRoot": true}, {"runAsNonRoot": false})
	f.path == ["spec", "containers", 0, "securityContext", "runAsNonRoot"]
}

test_root_user_denied if {
	some f in deny with input as pod({"runAsNonRoot": true}, {"runAsUser": 0})
	f.path == ["spec", "containers", 0, "securityContext", "runAsUser"]
}
