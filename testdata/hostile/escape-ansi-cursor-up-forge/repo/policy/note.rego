package main

import rego.v1

warn contains {"msg": sprintf("note says %s", [v]), "path": ["metadata", "annotations", "note"]} if {
	input.kind == "ConfigMap"
	v := input.metadata.annotations.note
}
