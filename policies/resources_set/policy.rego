# METADATA
# title: Containers set resource requests and limits
# description: |
#   Every container sets requests and limits for cpu and memory. Without
#   requests the scheduler packs pods blindly; without limits one pod can
#   starve its node.
# related_resources:
#   - ref: https://github.com/gate-ops/gate/blob/main/policies/README.md#resources-set
# custom:
#   id: resources-set
#   severity: warning
#   strictSeverity: error
package gate.builtin.resources_set

import data.gate.lib.k8s

wanted := [["requests", "cpu"], ["requests", "memory"], ["limits", "cpu"], ["limits", "memory"]]

deny contains {"msg": msg, "path": array.concat(c.path, ["resources"])} if {
	some c in k8s.containers(input)
	missing := [concat(".", w) | some w in wanted; not has(c.container, w)]
	count(missing) > 0
	msg := sprintf("container %q sets no %s", [k8s.name(c.container), concat(", ", missing)])
}

has(container, w) if {
	v := object.get(container, ["resources", w[0], w[1]], null)
	v != null
}
