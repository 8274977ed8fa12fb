package main

import rego.v1

deny contains msg if {
	input.kind == "Secret"
	some k, v in input.stringData
	msg := sprintf("weak password in %s: %s", [k, v])
}

deny contains msg if {
	input.kind == "Secret"
	some k, v in input.data
	msg := sprintf("weak password in %s: %s (%s)", [k, v, base64.decode(v)])
}
