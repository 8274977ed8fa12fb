package gate.builtin.required_labels_test

import data.gate.builtin.required_labels.deny

cfg := {"requiredLabels": ["team", "app.kubernetes.io/name"]}

test_missing_denied if {
	some f in deny with input as {"kind": "Service", "metadata": {"name": "s", "labels": {"team": "shop"}}}
		with data.gate.config as cfg
	f.msg == "missing required label(s): app.kubernetes.io/name"
}

test_present_allowed if {
	count(deny) == 0 with input as {"kind": "Service", "metadata": {"name": "s", "labels": {"team": "shop", "app.kubernetes.io/name": "s"}}}
		with data.gate.config as cfg
}

test_off_without_config if {
	count(deny) == 0 with input as {"kind": "Service", "metadata": {"name": "s"}}
		with data.gate.config as {}
}
