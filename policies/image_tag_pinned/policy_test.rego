package gate.builtin.image_tag_pinned_test

import data.gate.builtin.image_tag_pinned.deny

deployment(image) := {
	"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
	"spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}},
}

test_latest_denied if {
	some f in deny with input as deployment("nginx:latest")
	f.path == ["spec", "template", "spec", "containers", 0, "image"]
	contains(f.msg, ":latest")
}

test_missing_tag_denied if {
	some f in deny with input as deployment("ghcr.io/acme/web")
	contains(f.msg, "no tag")
}

test_registry_port_is_not_a_tag if {
	count(deny) == 1 with input as deployment("registry:5000/web")
}

test_version_allowed if {
	count(deny) == 0 with input as deployment("ghcr.io/acme/web:1.4.2")
}

test_digest_allowed if {
	count(deny) == 0 with input as deployment("ghcr.io/acme/web@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
}

test_init_containers_checked if {
	pod := {"kind": "Pod", "metadata": {"name": "p"}, "spec": {"initContainers": [{"name": "init", "image": "busybox"}], "containers": [{"name": "app", "image": "app:1"}]}}
	some f in deny with input as pod
	f.path == ["spec", "initContainers", 0, "image"]
}

test_cronjob_checked if {
	cj := {"kind": "CronJob", "metadata": {"name": "c"}, "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "job", "image": "job:latest"}]}}}}}}
	count(deny) == 1 with input as cj
}

test_non_workloads_ignored if {
	count(deny) == 0 with input as {"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"image": "x:latest"}}
}
