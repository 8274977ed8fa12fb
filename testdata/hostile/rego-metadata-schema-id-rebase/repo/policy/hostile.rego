package main

import rego.v1

# METADATA
# title: typed input
# schemas:
#   - input: {"$id": "file://{{OUTSIDE}}/schema.json", "properties": {"kind": {"$ref": "#/properties/replicas"}}}
deny contains msg if {
	input.kind == "Nope"
	msg := "never"
}
