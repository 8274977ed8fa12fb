# METADATA
# title: Services exposed outside the cluster are flagged
# description: |
#   A Service of type LoadBalancer or NodePort opens a port outside the
#   cluster. That is sometimes the point; it should never be an accident, so
#   the change is flagged for a reviewer (a warning by default).
# related_resources:
#   - ref: https://github.com/gate-ops/gate/blob/main/policies/README.md#service-exposed
# custom:
#   id: service-exposed
#   severity: warning
package gate.builtin.service_exposed

warn contains {"msg": msg, "path": ["spec", "type"]} if {
	input.kind == "Service"
	input.spec.type in {"LoadBalancer", "NodePort"}
	msg := sprintf("Service of type %s is reachable from outside the cluster", [input.spec.type])
}
