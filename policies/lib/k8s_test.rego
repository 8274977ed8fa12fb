package gate.lib.k8s_test

import data.gate.lib.k8s

labels := {"app": "web", "tier": "fe"}

test_match_labels if k8s.selector_matches({"matchLabels": {"app": "web"}}, labels)

test_match_labels_mismatch if not k8s.selector_matches({"matchLabels": {"app": "api"}}, labels)

test_not_in if {
	k8s.selector_matches({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["api"]}]}, labels)
	not k8s.selector_matches({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]}, labels)
}

test_exists if {
	k8s.selector_matches({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, labels)
	not k8s.selector_matches({"matchExpressions": [{"key": "canary", "operator": "Exists"}]}, labels)
}

test_unnamed_container if k8s.name({"image": "x"}) == "(unnamed)"

test_cronjob_pod_spec if {
	k8s.pod_spec_path({"kind": "CronJob"}) == ["spec", "jobTemplate", "spec", "template", "spec"]
}
