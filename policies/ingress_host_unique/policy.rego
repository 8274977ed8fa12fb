# METADATA
# title: Ingress hosts are unique in an environment
# description: |
#   Two Ingresses that claim the same host fight over it: the ingress
#   controller merges or picks one, and traffic goes to whichever won. Every
#   host belongs to exactly one Ingress in an environment.
# related_resources:
#   - ref: https://github.com/gate-ops/gate/blob/main/policies/README.md#ingress-host-unique
# custom:
#   id: ingress-host-unique
#   severity: error
#   scope: environment
package gate.builtin.ingress_host_unique

import data.gate.lib.k8s

# entries lists [host, resource index, rule index] for every Ingress rule,
# computed once per evaluation.
entries := [[rule.host, i, j] |
	some i, r in input.resources
	r.kind == "Ingress"
	rules := object.get(r, ["spec", "rules"], [])
	is_array(rules)
	some j, rule in rules
	is_string(rule.host)
]

# duplicated are the hosts claimed by more than one rule: sorting the
# entries puts equal hosts next to each other, so this is O(n log n) rather
# than comparing every pair.
sorted_entries := sort(entries)

duplicated := {sorted_entries[k][0] |
	count(sorted_entries) > 1
	some k in numbers.range(0, count(sorted_entries) - 2)
	sorted_entries[k][0] == sorted_entries[k + 1][0]
}

# claims maps each duplicated host to the Ingress rules that claim it.
claims := {host: [[e[1], e[2]] | some e in entries; e[0] == host] | some host in duplicated}

deny contains {"msg": msg, "resource": i, "path": ["spec", "rules", j, "host"]} if {
	some host, list in claims
	owners := {x[0] | some x in list}
	count(owners) > 1
	some [i, j] in list
	others := sort([ref(input.resources[o]) | some o in owners; o != i])
	msg := sprintf("host %q is also claimed by %s", [host, concat(", ", others)])
}

ref(r) := sprintf("Ingress %s/%s", [k8s.namespace(r), r.metadata.name])
