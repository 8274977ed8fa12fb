package gate.builtin.no_privileged_test

import data.gate.builtin.no_privileged.deny

pod(sc) := {"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "app", "image": "a:1", "securityContext": sc}]}}

test_privileged_denied if {
	some f in deny with input as pod({"privileged": true})
	f.path == ["spec", "containers", 0, "securityContext", "privileged"]
}

test_unprivileged_allowed if {
	count(deny) == 0 with input as pod({"privileged": false})
}

test_unset_allowed if {
	count(deny) == 0 with input as pod({})
}
