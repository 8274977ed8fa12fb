# METADATA
# title: Production workloads have a PodDisruptionBudget
# description: |
#   In environments labelled tier: production in gate.yaml, every Deployment
#   and StatefulSet is selected by a PodDisruptionBudget in its namespace, so
#   a node drain cannot take all its pods down at once.
# related_resources:
#   - ref: https://github.com/gate-ops/gate/blob/main/policies/README.md#production-pdb
# custom:
#   id: production-pdb
#   severity: warning
#   strictSeverity: error
#   scope: environment
package gate.builtin.production_pdb

import data.gate.lib.k8s

guarded := {"Deployment", "StatefulSet"}

# all_pdbs lists [namespace, selector] of every PodDisruptionBudget, once.
all_pdbs := [[k8s.namespace(p), p.spec.selector] |
	some p in input.resources
	p.kind == "PodDisruptionBudget"
]

# pdb_namespaces are the namespaces that have a PodDisruptionBudget.
pdb_namespaces := {x[0] | some x in all_pdbs}

# pdbs groups PodDisruptionBudget selectors by namespace, once per
# evaluation (a complete rule is computed once; a partial one per lookup).
pdbs := {ns: [x[1] | some x in all_pdbs; x[0] == ns] | some ns in pdb_namespaces}

deny contains {"msg": msg, "resource": i} if {
	k8s.production
	some i, r in input.resources
	r.kind in guarded
	labels := k8s.pod_template_labels(r)
	not covered(k8s.namespace(r), labels)
	msg := sprintf("%s has no PodDisruptionBudget selecting its pods in a production environment", [r.kind])
}

covered(ns, labels) if {
	some sel in pdbs[ns]
	k8s.selector_matches(sel, labels)
}
