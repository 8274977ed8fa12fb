package main

import rego.v1

# METADATA
# title: typed input
# schemas:
#   - input: {"$ref": "file://{{OUTSIDE}}/schema.json"}
deny contains msg if {
	input.kind == "Nope"
	msg := "never"
}
