package main

import rego.v1

# METADATA
# title: typed input
# schemas:
#   - input.metadata:
#       type: object
#       properties:
#         name:
#           $ref: /etc/passwd
deny contains msg if {
	input.kind == "Nope"
	msg := "never"
}
