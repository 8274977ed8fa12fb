package main

import rego.v1

deny contains msg if {
	some i in numbers.range(1, 100000)
	some j in numbers.range(1, 100000)
	some k in numbers.range(1, 100000)
	i * j * k == -1
	msg := "unreachable"
}
