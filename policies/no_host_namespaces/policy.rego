# METADATA
# title: No host namespaces
# description: |
#   hostNetwork, hostPID and hostIPC put a pod in the node's own network,
#   process or IPC namespace, where it sees and can reach everything on the
#   node.
# related_resources:
#   - ref: https://github.com/gate-ops/gate/blob/main/policies/README.md#no-host-namespaces
# custom:
#   id: no-host-namespaces
#   severity: error
package gate.builtin.no_host_namespaces

import data.gate.lib.k8s

deny contains {"msg": msg, "path": array.concat(k8s.pod_spec_path(input), [field])} if {
	spec := k8s.pod_spec(input)
	some field in ["hostNetwork", "hostPID", "hostIPC"]
	spec[field] == true
	msg := sprintf("the pod sets %s: true and shares the node's namespace", [field])
}
