package gate.builtin.production_pdb_test

import data.gate.builtin.production_pdb.deny

prod := {"name": "prod", "labels": {"tier": "production"}}

deploy := {"kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"}, "spec": {"template": {"metadata": {"labels": {"app": "web", "tier": "fe"}}}}}

pdb(ns, selector) := {"kind": "PodDisruptionBudget", "metadata": {"name": "web", "namespace": ns}, "spec": {"selector": selector}}

test_missing_pdb_denied if {
	some f in deny with input as {"resources": [deploy]} with data.gate.env as prod
	f.resource == 0
}

test_matching_pdb_allowed if {
	count(deny) == 0 with input as {"resources": [deploy, pdb("shop", {"matchLabels": {"app": "web"}})]} with data.gate.env as prod
}

test_match_expressions if {
	sel := {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "api"]}, {"key": "canary", "operator": "DoesNotExist"}]}
	count(deny) == 0 with input as {"resources": [deploy, pdb("shop", sel)]} with data.gate.env as prod
}

test_pdb_in_other_namespace_does_not_count if {
	count(deny) == 1 with input as {"resources": [deploy, pdb("other", {"matchLabels": {"app": "web"}})]} with data.gate.env as prod
}

test_non_matching_selector_denied if {
	count(deny) == 1 with input as {"resources": [deploy, pdb("shop", {"matchLabels": {"app": "api"}})]} with data.gate.env as prod
}

test_empty_selector_matches_every_pod if {
	count(deny) == 0 with input as {"resources": [deploy, pdb("shop", {})]} with data.gate.env as prod
}

test_not_production_ignored if {
	count(deny) == 0 with input as {"resources": [deploy]} with data.gate.env as {"name": "dev", "labels": {}}
}
