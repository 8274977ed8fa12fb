# METADATA
# title: No privileged containers
# description: |
#   A privileged container has every capability of the node's root user and
#   can take over the node. Grant the single capability the workload needs.
# related_resources:
#   - ref: https://github.com/gate-ops/gate/blob/main/policies/README.md#no-privileged
# custom:
#   id: no-privileged
#   severity: error
package gate.builtin.no_privileged

import data.gate.lib.k8s

deny contains {"msg": msg, "path": array.concat(c.path, ["securityContext", "privileged"])} if {
	some c in k8s.containers(input)
	object.get(c.container, ["securityContext", "privileged"], false) == true
	msg := sprintf("container %q runs privileged", [k8s.name(c.container)])
}
