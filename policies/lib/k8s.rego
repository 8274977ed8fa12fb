# METADATA
# title: Kubernetes helpers shared by the built-in rules
# description: Pod specs and containers of every workload kind, label selectors.
package gate.lib.k8s

workload_kinds := {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job"}

# pod_spec_path is where an object keeps its pod spec.
pod_spec_path(obj) := ["spec"] if obj.kind == "Pod"

pod_spec_path(obj) := ["spec", "template", "spec"] if obj.kind in workload_kinds

pod_spec_path(obj) := ["spec", "jobTemplate", "spec", "template", "spec"] if obj.kind == "CronJob"

# pod_spec is the pod spec of a Pod, a workload or a CronJob.
pod_spec(obj) := spec if {
	spec := object.get(obj, pod_spec_path(obj), null)
	is_object(spec)
}

# pod_template_labels are the labels the pods of a workload get.
pod_template_labels(obj) := object.get(obj, ["spec", "template", "metadata", "labels"], {}) if obj.kind in workload_kinds

# containers lists {path, container} for the regular and init containers:
# the containers that run with resources and a security context.
containers(obj) := [{"path": array.concat(pod_spec_path(obj), [field, i]), "container": c} |
	spec := pod_spec(obj)
	some field in ["initContainers", "containers"]
	list := object.get(spec, field, [])
	is_array(list)
	some i, c in list
	is_object(c)
]

# all_containers adds ephemeral debug containers, for rules about images.
all_containers(obj) := array.concat(containers(obj), [{"path": array.concat(pod_spec_path(obj), ["ephemeralContainers", i]), "container": c} |
	spec := pod_spec(obj)
	list := object.get(spec, "ephemeralContainers", [])
	is_array(list)
	some i, c in list
	is_object(c)
])

# name of a container, for messages.
name(c) := n if {
	n := object.get(c, "name", "")
	is_string(n)
	n != ""
} else := "(unnamed)"

# selector_matches applies a metav1.LabelSelector to a label map. An empty
# selector matches everything, as it does in policy/v1 PodDisruptionBudgets.
selector_matches(selector, labels) if {
	is_object(selector)
	every k, v in object.get(selector, "matchLabels", {}) {
		labels[k] == v
	}
	every e in object.get(selector, "matchExpressions", []) {
		expression_matches(e, labels)
	}
}

expression_matches(e, labels) if {
	e.operator == "In"
	labels[e.key] in e.values
}

expression_matches(e, labels) if {
	e.operator == "NotIn"
	not labels[e.key] in e.values
}

expression_matches(e, labels) if {
	e.operator == "Exists"
	_ = labels[e.key]
}

expression_matches(e, labels) if {
	e.operator == "DoesNotExist"
	not labels[e.key]
}

# namespace of an object ("" for cluster-scoped ones).
namespace(obj) := object.get(obj, ["metadata", "namespace"], "")

# production is true in environments labelled tier: production in gate.yaml.
production if data.gate.env.labels.tier == "production"
