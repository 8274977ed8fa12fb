package main

import rego.v1

deny contains msg if {
	xs := numbers.range(1, 100000000000)
	count(xs) > 0
	msg := "never"
}
