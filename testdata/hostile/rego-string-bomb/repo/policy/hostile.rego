package main

import rego.v1

big := concat("", [s | some i in numbers.range(1, 100000000); s := sprintf("%d-%s", [i, input.kind])])

deny contains msg if {
	count(big) < 0
	msg := "never"
}
