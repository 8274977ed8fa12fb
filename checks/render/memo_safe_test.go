package render

import (
	"testing"

	"github.com/gate-ops/gate/checks/source"
)

// TestPatchesSafe: the memo shares a subtree under a kustomization only
// when every patch of that kustomization targets a plain kind other than
// ConfigMap and Secret, whose content decides the hash suffix the
// subtree's generators computed. Anything gate cannot read as such (a
// pattern, no kind, a JSON 6902 patch without target, a file it cannot
// read, a document that is not an object) is unsafe: the environment then
// renders the ordinary way.
func TestPatchesSafe(t *testing.T) {
	const deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n"
	const configMap = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  A: \"1\"\n"
	tests := []struct {
		name  string
		kust  string
		files map[string]string
		want  bool
	}{
		{name: "no patches", kust: "resources: [../../app]\n", want: true},
		{name: "no kustomization content", kust: "{}\n", want: true},
		{name: "empty patches", kust: "patches: []\n", want: true},
		{name: "target kind", kust: "patches:\n  - target: {kind: Deployment, name: web}\n    patch: |-\n      - op: replace\n        path: /spec/replicas\n        value: 3\n", want: true},
		{name: "target ConfigMap", kust: "patches:\n  - target: {kind: ConfigMap}\n    path: p.yaml\n", files: map[string]string{"p.yaml": deploy}, want: false},
		{name: "target Secret", kust: "patches:\n  - target: {kind: Secret, name: creds}\n    path: p.yaml\n", files: map[string]string{"p.yaml": deploy}, want: false},
		{name: "target kind pattern", kust: "patches:\n  - target: {kind: Deploy.*}\n    path: p.yaml\n", files: map[string]string{"p.yaml": deploy}, want: false},
		{name: "target without kind", kust: "patches:\n  - target: {name: web}\n    path: p.yaml\n", files: map[string]string{"p.yaml": deploy}, want: false},
		{name: "target kind empty string", kust: "patches:\n  - target: {kind: \"\"}\n    path: p.yaml\n", files: map[string]string{"p.yaml": deploy}, want: false},
		{name: "target wins over the body", kust: "patches:\n  - target: {kind: Deployment}\n    path: p.yaml\n", files: map[string]string{"p.yaml": configMap}, want: true},
		{name: "path to an object patch", kust: "patches:\n  - path: p.yaml\n", files: map[string]string{"p.yaml": deploy}, want: true},
		{name: "path to a ConfigMap patch", kust: "patches:\n  - path: p.yaml\n", files: map[string]string{"p.yaml": configMap}, want: false},
		{name: "path to a Secret patch", kust: "patches:\n  - path: p.yaml\n", files: map[string]string{"p.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n"}, want: false},
		{name: "path with spaces", kust: "patches:\n  - path: \" p.yaml \"\n", files: map[string]string{"p.yaml": deploy}, want: true},
		{name: "path missing", kust: "patches:\n  - path: missing.yaml\n", want: false},
		{name: "path out of the repo", kust: "patches:\n  - path: ../../../../outside.yaml\n", want: false},
		{name: "path to an empty file", kust: "patches:\n  - path: p.yaml\n", files: map[string]string{"p.yaml": ""}, want: false},
		{name: "path to JSON 6902 operations", kust: "patches:\n  - path: p.yaml\n", files: map[string]string{"p.yaml": "- op: replace\n  path: /spec/replicas\n  value: 3\n"}, want: false},
		{name: "path to a document without kind", kust: "patches:\n  - path: p.yaml\n", files: map[string]string{"p.yaml": "metadata:\n  name: web\n"}, want: false},
		{name: "path to a kind pattern", kust: "patches:\n  - path: p.yaml\n", files: map[string]string{"p.yaml": "kind: Deploy*\nmetadata:\n  name: web\n"}, want: false},
		{name: "path to two objects", kust: "patches:\n  - path: p.yaml\n", files: map[string]string{"p.yaml": deploy + "---\n" + deploy}, want: true},
		{name: "path to an object and a ConfigMap", kust: "patches:\n  - path: p.yaml\n", files: map[string]string{"p.yaml": deploy + "---\n" + configMap}, want: false},
		{name: "path to broken YAML", kust: "patches:\n  - path: p.yaml\n", files: map[string]string{"p.yaml": "kind: [\n"}, want: false},
		{name: "inline patch object", kust: "patches:\n  - patch: |-\n      apiVersion: apps/v1\n      kind: Deployment\n      metadata:\n        name: web\n      spec:\n        replicas: 2\n", want: true},
		{name: "inline patch ConfigMap", kust: "patches:\n  - patch: |-\n      apiVersion: v1\n      kind: ConfigMap\n      metadata:\n        name: settings\n", want: false},
		{name: "inline JSON 6902 without target", kust: "patches:\n  - patch: |-\n      - op: replace\n        path: /spec/replicas\n        value: 3\n", want: false},
		{name: "item with neither path, patch nor target", kust: "patches:\n  - options: {allowNameChange: true}\n", want: false},
		{name: "one unsafe patch among safe ones", kust: "patches:\n  - target: {kind: Deployment}\n    path: p.yaml\n  - target: {kind: ConfigMap}\n    path: p.yaml\n", files: map[string]string{"p.yaml": deploy}, want: false},
		{name: "strategic merge file", kust: "patchesStrategicMerge:\n  - p.yaml\n", files: map[string]string{"p.yaml": deploy}, want: true},
		{name: "strategic merge .yml file", kust: "patchesStrategicMerge:\n  - p.yml\n", files: map[string]string{"p.yml": deploy}, want: true},
		{name: "strategic merge file named with a colon", kust: "patchesStrategicMerge:\n  - \"a:b.yaml\"\n", files: map[string]string{"a:b.yaml": deploy}, want: true},
		{name: "strategic merge ConfigMap file", kust: "patchesStrategicMerge:\n  - p.yaml\n", files: map[string]string{"p.yaml": configMap}, want: false},
		{name: "strategic merge missing file", kust: "patchesStrategicMerge:\n  - missing.yaml\n", want: false},
		{name: "strategic merge file out of the repo", kust: "patchesStrategicMerge:\n  - ../../../../outside.yaml\n", want: false},
		{name: "strategic merge inline object", kust: "patchesStrategicMerge:\n  - |-\n    apiVersion: apps/v1\n    kind: Deployment\n    metadata:\n      name: web\n", want: true},
		{name: "strategic merge inline one-line object", kust: "patchesStrategicMerge:\n  - \"{kind: Deployment, metadata: {name: web}}\"\n", want: true},
		{name: "strategic merge inline Secret", kust: "patchesStrategicMerge:\n  - |-\n    apiVersion: v1\n    kind: Secret\n    metadata:\n      name: s\n", want: false},
		{name: "strategic merge mapping item", kust: "patchesStrategicMerge:\n  - {path: p.yaml}\n", files: map[string]string{"p.yaml": deploy}, want: true},
		{name: "json6902 with target", kust: "patchesJson6902:\n  - target: {group: apps, version: v1, kind: Deployment, name: web}\n    path: ops.yaml\n", files: map[string]string{"ops.yaml": "- op: replace\n  path: /spec/replicas\n  value: 3\n"}, want: true},
		{name: "json6902 ConfigMap target", kust: "patchesJson6902:\n  - target: {version: v1, kind: ConfigMap, name: settings}\n    path: ops.yaml\n", files: map[string]string{"ops.yaml": "- op: remove\n  path: /data/A\n"}, want: false},
		{name: "json6902 without target", kust: "patchesJson6902:\n  - path: p.yaml\n", files: map[string]string{"p.yaml": deploy}, want: false},
		{name: "every key, all safe", kust: "patches:\n  - path: p.yaml\npatchesStrategicMerge:\n  - p.yaml\npatchesJson6902:\n  - target: {kind: Deployment}\n    path: ops.yaml\n", files: map[string]string{"p.yaml": deploy, "ops.yaml": "[]\n"}, want: true},
		{name: "every key, the last unsafe", kust: "patches:\n  - path: p.yaml\npatchesStrategicMerge:\n  - p.yaml\npatchesJson6902:\n  - target: {kind: Secret}\n    path: ops.yaml\n", files: map[string]string{"p.yaml": deploy, "ops.yaml": "[]\n"}, want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{"envs/a/kustomization.yaml": tc.kust}
			for name, body := range tc.files {
				files["envs/a/"+name] = body
			}
			src := source.NewMem("test", files)
			// The kustomization as parsed, not scanned: the scan refuses
			// some of these files (a missing or outside path) before the
			// memo sees them, and patchesSafe must refuse them on its own.
			lim := DefaultLimits()
			docs, err := ParseDocs("envs/a/kustomization.yaml", []byte(tc.kust), lim)
			if err != nil || len(docs) != 1 {
				t.Fatalf("parse: %v (%d documents)", err, len(docs))
			}
			k := &Kustomization{Dir: "envs/a", File: "envs/a/kustomization.yaml", Root: docs[0].Node}
			if got := patchesSafe(src, k, newDocCache(lim), lim); got != tc.want {
				t.Errorf("patchesSafe = %v, want %v\n%s", got, tc.want, tc.kust)
			}
		})
	}
}
