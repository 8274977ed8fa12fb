package main

import rego.v1

containers contains c if some c in input.spec.template.spec.containers

deny_privileged contains msg if {
	some c in containers
	c.securityContext.privileged
	msg := sprintf("%s: container %s is privileged", [input.metadata.name, c.name])
}

warn_floating_tag contains msg if {
	some c in containers
	endswith(c.image, ":latest")
	msg := sprintf("%s: container %s uses :latest", [input.metadata.name, c.name])
}

deny contains msg if {
	not input.metadata.labels.team
	msg := sprintf("%s has no team label", [input.metadata.name])
}
