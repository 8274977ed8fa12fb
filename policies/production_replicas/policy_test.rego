package gate.builtin.production_replicas_test

import data.gate.builtin.production_replicas.deny

prod := {"name": "prod", "labels": {"tier": "production"}}

deploy(replicas) := {"kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"}, "spec": {"replicas": replicas}}

test_one_replica_denied_in_production if {
	some f in deny with input as {"resources": [deploy(1)]} with data.gate.env as prod
	f.resource == 0
	f.path == ["spec", "replicas"]
}

test_default_replicas_denied if {
	d := {"kind": "StatefulSet", "metadata": {"name": "db"}, "spec": {}}
	count(deny) == 1 with input as {"resources": [d]} with data.gate.env as prod
}

test_two_replicas_allowed if {
	count(deny) == 0 with input as {"resources": [deploy(2)]} with data.gate.env as prod
}

test_other_envs_ignored if {
	count(deny) == 0 with input as {"resources": [deploy(1)]} with data.gate.env as {"name": "dev", "labels": {"tier": "development"}}
}

test_hpa_counts if {
	hpa := {"kind": "HorizontalPodAutoscaler", "metadata": {"name": "web", "namespace": "shop"}, "spec": {"minReplicas": 3, "scaleTargetRef": {"kind": "Deployment", "name": "web"}}}
	count(deny) == 0 with input as {"resources": [deploy(1), hpa]} with data.gate.env as prod
}
