# METADATA
# title: Required labels are set
# description: |
#   Every object carries the labels listed in gate.yaml under
#   policies.requiredLabels (ownership, cost allocation, on-call routing).
#   The rule does nothing until that list is set.
# related_resources:
#   - ref: https://github.com/gate-ops/gate/blob/main/policies/README.md#required-labels
# custom:
#   id: required-labels
#   severity: warning
#   strictSeverity: error
package gate.builtin.required_labels

deny contains {"msg": msg, "path": ["metadata", "labels"]} if {
	required := data.gate.config.requiredLabels
	is_array(required)
	labels := object.get(input, ["metadata", "labels"], {})
	missing := [l | some l in required; not labels[l]]
	count(missing) > 0
	msg := sprintf("missing required label(s): %s", [concat(", ", missing)])
}
