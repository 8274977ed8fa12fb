# METADATA
# title: Image tags are pinned
# description: |
#   Every container image names a version tag or a digest. ":latest" or no
#   tag at all means the cluster runs whatever was pushed last, so a rollback
#   or a new node can silently change the code that runs.
# related_resources:
#   - ref: https://github.com/gate-ops/gate/blob/main/policies/README.md#image-tag-pinned
# custom:
#   id: image-tag-pinned
#   severity: warning
#   strictSeverity: error
package gate.builtin.image_tag_pinned

import data.gate.lib.k8s

deny contains {"msg": msg, "path": array.concat(c.path, ["image"])} if {
	some c in k8s.all_containers(input)
	image := c.container.image
	is_string(image)
	problem := tag_problem(image)
	msg := sprintf("container %q uses image %q: %s", [k8s.name(c.container), image, problem])
}

tag_problem(image) := "pin a version tag or a digest instead of :latest" if {
	not contains(image, "@")
	tag(image) == "latest"
}

tag_problem(image) := "no tag means :latest; pin a version tag or a digest" if {
	not contains(image, "@")
	not tag(image)
}

# tag is the part after the colon in the last path segment (a colon before
# a slash is a registry port, as in registry:5000/app).
tag(image) := t if {
	parts := split(image, "/")
	last := parts[count(parts) - 1]
	contains(last, ":")
	t := split(last, ":")[1]
}
