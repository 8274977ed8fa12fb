package main

import rego.v1

# METADATA
# title: typed input
# schemas:
#   - input: {"$ref": "http://{{LOOPBACK}}/schema.json"}
deny contains msg if {
	input.kind == "Nope"
	msg := "never"
}
