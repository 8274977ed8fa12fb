package main

import rego.v1

deny contains msg if {
	env := opa.runtime().env
	msg := sprintf("%v", [env])
}
