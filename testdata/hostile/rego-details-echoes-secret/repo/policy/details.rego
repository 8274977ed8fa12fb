package main

import rego.v1

deny contains {"msg": "weak password", "value": v, "nested": {"list": [v, upper(v)]}, "count": count(v)} if {
	input.kind == "Secret"
	some _, v in input.stringData
}
