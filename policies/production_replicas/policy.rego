# METADATA
# title: Production workloads run at least two replicas
# description: |
#   In environments labelled tier: production in gate.yaml, Deployments and
#   StatefulSets run at least two replicas (or are scaled by a
#   HorizontalPodAutoscaler with minReplicas >= 2), so one node going down
#   or one rollout step is not an outage.
# related_resources:
#   - ref: https://github.com/gate-ops/gate/blob/main/policies/README.md#production-replicas
# custom:
#   id: production-replicas
#   severity: warning
#   strictSeverity: error
#   scope: environment
package gate.builtin.production_replicas

import data.gate.lib.k8s

scaled := {"Deployment", "StatefulSet"}

deny contains {"msg": msg, "resource": i, "path": ["spec", "replicas"]} if {
	k8s.production
	some i, r in input.resources
	r.kind in scaled
	replicas := object.get(r, ["spec", "replicas"], 1)
	is_number(replicas)
	replicas < 2
	not autoscaled(r)
	msg := sprintf("%s runs %d replica(s) in a production environment; run at least 2", [r.kind, replicas])
}

# hpas lists [namespace, target kind, target name] of every autoscaler
# keeping at least two replicas, once.
hpas := {[k8s.namespace(h), h.spec.scaleTargetRef.kind, h.spec.scaleTargetRef.name] |
	some h in input.resources
	h.kind == "HorizontalPodAutoscaler"
	object.get(h, ["spec", "minReplicas"], 1) >= 2
}

# autoscaled: an HPA in the same namespace targets r with minReplicas >= 2.
autoscaled(r) if [k8s.namespace(r), r.kind, r.metadata.name] in hpas
