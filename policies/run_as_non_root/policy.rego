# METADATA
# title: Containers run as non-root
# description: |
#   Every container must be unable to run as root: runAsNonRoot: true (on the
#   container or the pod) or a non-zero runAsUser. A container escape from a
#   root process is a root process on the node.
# related_resources:
#   - ref: https://github.com/gate-ops/gate/blob/main/policies/README.md#run-as-non-root
# custom:
#   id: run-as-non-root
#   severity: warning
#   strictSeverity: error
package gate.builtin.run_as_non_root

import data.gate.lib.k8s

deny contains {"msg": msg, "path": path} if {
	spec := k8s.pod_spec(input)
	some c in k8s.containers(input)
	not non_root(c.container, spec)
	path := blame(c, spec)
	msg := sprintf("container %q may run as root: set securityContext.runAsNonRoot: true or a non-zero runAsUser", [k8s.name(c.container)])
}

# effective reads a securityContext field, the container's winning over the pod's.
effective(container, spec, field) := v if {
	v := container.securityContext[field]
} else := v if {
	v := spec.securityContext[field]
}

non_root(container, spec) if {
	effective(container, spec, "runAsNonRoot") == true
	not root_user(container, spec)
}

non_root(container, spec) if {
	not explicitly_root(container, spec)
	u := effective(container, spec, "runAsUser")
	is_number(u)
	u > 0
}

root_user(container, spec) if effective(container, spec, "runAsUser") == 0

explicitly_root(container, spec) if {
	v := effective(container, spec, "runAsNonRoot")
	v == false
}

# blame points at the field to change: the one that says root, else the
# container's securityContext (or the container).
blame(c, _) := array.concat(c.path, ["securityContext", f]) if {
	some f in ["runAsUser", "runAsNonRoot"]
	_ = c.container.securityContext[f]
} else := array.concat(c.path, ["securityContext"])
