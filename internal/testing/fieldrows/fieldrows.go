// Package fieldrows is the table of kustomize features that set a field,
// with where a schema finding, a policy finding and a diff entry on that
// field must land: TestFieldOrigins (checks/engine) runs it through the
// engine and the check-run annotations, cmd/gate through the Action and the
// App (webhook in, check runs out through the validating fake GitHub).
package fieldrows

import "strings"

// The repo every row of TestFieldOrigins builds on: a base Deployment, an
// environment env/ that uses it, and a policy that denies every string
// holding "flagged" and every 77, at the field's path.
var Base = map[string]string{
	"gate.yaml": `apiVersion: gate/v1
environments:
  - name: env
    path: env
policies:
  paths: [policy]
  namespaces: [main]
`,
	"policy/flag.rego": `package main

deny contains {"msg": "flagged value", "path": p} if {
	walk(input, [p, v])
	is_string(v)
	contains(v, "flagged")
}

deny contains {"msg": "flagged count", "path": p} if {
	walk(input, [p, v])
	v == 77
}
`,
	"base/kustomization.yaml": `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - deployment.yaml
`,
	"base/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
  labels:
    tier: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: app
  template:
    metadata:
      labels:
        app: app
    spec:
      containers:
        - name: app
          image: example.com/app:1.0.0
          env:
            - name: MODE
              value: normal
`,
	"charts/web/Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n",
	"charts/web/values.yaml": `image:
  repository: example.com/web
  tag: "1.0"
stdin: false
`,
	"charts/web/templates/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
        - name: web
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
          stdin: {{ .Values.stdin }}
`,
}

const Head = `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../base
`

// Row is one kustomize feature that sets a field, and where a schema
// finding, a policy finding and a diff entry on that field must land ("" when
// the feature cannot cause that kind of entry, with the reason in Why).
type Row struct {
	Name string
	// kust is appended to Head (so it starts on line 5); files are
	// extra files of the head.
	Kust  string
	Files map[string]string
	Kind  string // the object the entries are on (default Deployment)
	// path is the dotted field path of the entries.
	SchemaPath, SchemaAt string
	PolicyPath, PolicyAt string
	DiffAt               string
	// IdentityAt is where both entries of an identity change (the object
	// removed under its old name or namespace, added under the new) land.
	IdentityAt string
	// Why says why a column is empty: the feature cannot cause that kind
	// of entry. Every row with an empty column has one (TestFieldOrigins).
	Why string
}

var Rows = []Row{
	{Name: "images", Kust: "images:\n  - name: example.com/app\n    newTag: flagged\n",
		PolicyPath: "spec.template.spec.containers[0].image", PolicyAt: "env/kustomization.yaml:7", DiffAt: "env/kustomization.yaml:7",
		Why: "schema: an image is any string, no tag makes it invalid"},
	{Name: "replicas", Kust: "replicas:\n  - name: app\n    count: 77\n",
		PolicyPath: "spec.replicas", PolicyAt: "env/kustomization.yaml:7", DiffAt: "env/kustomization.yaml:7",
		Why: "schema: kustomize takes only an integer count, and every integer is a valid replicas"},
	// namespace, namePrefix and nameSuffix change the object's identity:
	// the diff is a removal and an addition, not a field change; both land
	// on the transformer's line.
	{Name: "namespace", Kust: "namespace: flagged_ns\n",
		SchemaPath: "metadata.namespace", SchemaAt: "env/kustomization.yaml:5", PolicyPath: "metadata.namespace", PolicyAt: "env/kustomization.yaml:5",
		IdentityAt: "env/kustomization.yaml:5",
		Why:        "diff: a new namespace is a new identity (removal and addition, IdentityAt)"},
	{Name: "namePrefix", Kust: "namePrefix: flagged_\n",
		SchemaPath: "metadata.name", SchemaAt: "env/kustomization.yaml:5", PolicyPath: "metadata.name", PolicyAt: "env/kustomization.yaml:5",
		IdentityAt: "env/kustomization.yaml:5",
		Why:        "diff: a new name is a new identity (IdentityAt)"},
	{Name: "nameSuffix", Kust: "nameSuffix: _flagged\n",
		SchemaPath: "metadata.name", SchemaAt: "env/kustomization.yaml:5", PolicyPath: "metadata.name", PolicyAt: "env/kustomization.yaml:5",
		IdentityAt: "env/kustomization.yaml:5",
		Why:        "diff: a new name is a new identity (IdentityAt)"},
	// Both at once: the namespace line (the object moves namespace).
	{Name: "namespace and namePrefix", Kust: "namePrefix: flagged_\nnamespace: flagged_ns\n",
		PolicyPath: "metadata.name", PolicyAt: "env/kustomization.yaml:5", IdentityAt: "env/kustomization.yaml:6",
		Why: "schema: covered by the namespace and namePrefix rows; diff: identity (IdentityAt)"},
	// A generated ConfigMap renamed by the prefix (its hash stays): the
	// prefix's line, not the generator's.
	{Name: "namePrefix on a generated ConfigMap", Kind: "ConfigMap", Kust: "namePrefix: flagged-\nconfigMapGenerator:\n  - name: app-config\n    literals:\n      - MODE=x\n",
		IdentityAt: "env/kustomization.yaml:5",
		Why:        "schema and policy: covered by the namePrefix row; here only the identity of a generated object"},
	// The prefix comes from a component the overlay uses.
	{Name: "namePrefix in a component", Kust: "components:\n  - ../comp\n",
		Files:      map[string]string{"comp/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nnamePrefix: flagged-\n"},
		IdentityAt: "comp/kustomization.yaml:3",
		Why:        "schema and policy: covered by the namePrefix row; here only where a component's prefix lands"},
	{Name: "labels", Kust: "labels:\n  - pairs:\n      team: flagged value!\n",
		SchemaPath: "metadata.labels.team", SchemaAt: "env/kustomization.yaml:7", PolicyPath: "metadata.labels.team", PolicyAt: "env/kustomization.yaml:7", DiffAt: "env/kustomization.yaml:7"},
	{Name: "commonLabels", Kust: "commonLabels:\n  team: flagged value!\n",
		SchemaPath: "metadata.labels.team", SchemaAt: "env/kustomization.yaml:6", PolicyPath: "spec.selector.matchLabels.team", PolicyAt: "env/kustomization.yaml:6", DiffAt: "env/kustomization.yaml:6"},
	{Name: "commonAnnotations", Kust: "commonAnnotations:\n  example.com/team: flagged\n",
		PolicyPath: "metadata.annotations.example.com/team", PolicyAt: "env/kustomization.yaml:6", DiffAt: "env/kustomization.yaml:6",
		Why: "schema: an annotation value is any string"},
	{Name: "configMapGenerator", Kind: "ConfigMap", Kust: "configMapGenerator:\n  - name: app-config\n    options:\n      disableNameSuffixHash: true\n    literals:\n      - MODE=flagged\n",
		PolicyPath: "data.MODE", PolicyAt: "env/kustomization.yaml:10", DiffAt: "env/kustomization.yaml:10",
		Why: "schema: ConfigMap data values are any string"},
	// Secret data is base64 on the object: a policy does not see "flagged".
	{Name: "secretGenerator", Kind: "Secret", Kust: "secretGenerator:\n  - name: creds\n    options:\n      disableNameSuffixHash: true\n    literals:\n      - TOKEN=flagged\n",
		DiffAt: "env/kustomization.yaml:10",
		Why:    "schema: Secret data is base64 kustomize writes; policy: the value is base64 on the object, a policy does not see it (see the secretGenerator type row)"},
	{Name: "generatorOptions", Kind: "ConfigMap", Kust: "generatorOptions:\n  disableNameSuffixHash: true\n  labels:\n    team: flagged value!\nconfigMapGenerator:\n  - name: app-config\n    literals:\n      - MODE=x\n",
		SchemaPath: "metadata.labels.team", SchemaAt: "env/kustomization.yaml:8", PolicyPath: "metadata.labels.team", PolicyAt: "env/kustomization.yaml:8", DiffAt: "env/kustomization.yaml:8"},
	// A generator option: the Secret's type.
	{Name: "secretGenerator type", Kind: "Secret", Kust: "secretGenerator:\n  - name: creds\n    type: example.com/flagged\n    options:\n      disableNameSuffixHash: true\n    literals:\n      - TOKEN=x\n",
		PolicyPath: "type", PolicyAt: "env/kustomization.yaml:7", DiffAt: "env/kustomization.yaml:7",
		Why: "schema: a Secret's type is any string"},
	// labels with includeSelectors: the selector's copy lands on the pair.
	{Name: "labels includeSelectors", Kust: "labels:\n  - pairs:\n      team: flagged\n    includeSelectors: true\n",
		PolicyPath: "spec.selector.matchLabels.team", PolicyAt: "env/kustomization.yaml:7", DiffAt: "env/kustomization.yaml:7",
		Why: "schema: a valid label value (the labels row has the invalid one)"},
	// The legacy field, a target by group/version/kind/name and a file.
	{Name: "patchesJson6902 file", Kust: "patchesJson6902:\n  - target:\n      group: apps\n      version: v1\n      kind: Deployment\n      name: app\n    path: ops.yaml\n",
		Files:      map[string]string{"env/ops.yaml": "- op: add\n  path: /spec/template/spec/containers/0/stdin\n  value: flagged\n"},
		SchemaPath: "spec.template.spec.containers[0].stdin", SchemaAt: "env/ops.yaml:2", PolicyPath: "spec.template.spec.containers[0].stdin", PolicyAt: "env/ops.yaml:2", DiffAt: "env/ops.yaml:2"},
	// A strategic-merge patch file selected by a label selector: the
	// patch's own name does not matter.
	{Name: "patches SMP file with labelSelector target", Kust: "patches:\n  - path: patch.yaml\n    target:\n      labelSelector: tier=web\n",
		Files:      map[string]string{"env/patch.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: any\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          stdin: flagged\n"},
		SchemaPath: "spec.template.spec.containers[0].stdin", SchemaAt: "env/patch.yaml:10", PolicyPath: "spec.template.spec.containers[0].stdin", PolicyAt: "env/patch.yaml:10", DiffAt: "env/patch.yaml:10"},
	{Name: "patches SMP file", Kust: "patches:\n  - path: patch.yaml\n",
		Files:      map[string]string{"env/patch.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          stdin: flagged\n"},
		SchemaPath: "spec.template.spec.containers[0].stdin", SchemaAt: "env/patch.yaml:10", PolicyPath: "spec.template.spec.containers[0].stdin", PolicyAt: "env/patch.yaml:10", DiffAt: "env/patch.yaml:10"},
	{Name: "patchesStrategicMerge", Kust: "patchesStrategicMerge:\n  - patch.yaml\n",
		Files:      map[string]string{"env/patch.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          stdin: flagged\n"},
		SchemaPath: "spec.template.spec.containers[0].stdin", SchemaAt: "env/patch.yaml:10", PolicyPath: "spec.template.spec.containers[0].stdin", PolicyAt: "env/patch.yaml:10", DiffAt: "env/patch.yaml:10"},
	{Name: "patches SMP inline", Kust: "patches:\n  - patch: |-\n      apiVersion: apps/v1\n      kind: Deployment\n      metadata:\n        name: app\n      spec:\n        template:\n          spec:\n            containers:\n              - name: app\n                stdin: flagged\n",
		SchemaPath: "spec.template.spec.containers[0].stdin", SchemaAt: "env/kustomization.yaml:16", PolicyPath: "spec.template.spec.containers[0].stdin", PolicyAt: "env/kustomization.yaml:16", DiffAt: "env/kustomization.yaml:16"},
	{Name: "patches JSON6902 inline with target", Kust: "patches:\n  - target:\n      kind: Deployment\n      name: app\n    patch: |-\n      - op: add\n        path: /spec/template/spec/containers/0/stdin\n        value: flagged\n",
		SchemaPath: "spec.template.spec.containers[0].stdin", SchemaAt: "env/kustomization.yaml:11", PolicyPath: "spec.template.spec.containers[0].stdin", PolicyAt: "env/kustomization.yaml:11", DiffAt: "env/kustomization.yaml:11"},
	{Name: "patches JSON6902 file with target", Kust: "patches:\n  - path: ops.yaml\n    target:\n      kind: Deployment\n      name: app\n",
		Files:      map[string]string{"env/ops.yaml": "- op: add\n  path: /spec/template/spec/containers/0/stdin\n  value: flagged\n"},
		SchemaPath: "spec.template.spec.containers[0].stdin", SchemaAt: "env/ops.yaml:2", PolicyPath: "spec.template.spec.containers[0].stdin", PolicyAt: "env/ops.yaml:2", DiffAt: "env/ops.yaml:2"},
	{Name: "replacements", Kust: "configMapGenerator:\n  - name: vals\n    options:\n      disableNameSuffixHash: true\n    literals:\n      - STDIN=flagged\nreplacements:\n  - source:\n      kind: ConfigMap\n      name: vals\n      fieldPath: data.STDIN\n    targets:\n      - select:\n          kind: Deployment\n        fieldPaths:\n          - spec.template.spec.containers.[name=app].stdin\n        options:\n          create: true\n",
		SchemaPath: "spec.template.spec.containers[0].stdin", SchemaAt: "env/kustomization.yaml:20", PolicyPath: "spec.template.spec.containers[0].stdin", PolicyAt: "env/kustomization.yaml:20", DiffAt: "env/kustomization.yaml:20"},
	{Name: "components", Kust: "components:\n  - ../comp\n",
		Files:      map[string]string{"comp/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nimages:\n  - name: example.com/app\n    newTag: flagged\n"},
		PolicyPath: "spec.template.spec.containers[0].image", PolicyAt: "comp/kustomization.yaml:5", DiffAt: "comp/kustomization.yaml:5",
		Why: "schema: a component's images: sets an image, any string (its namePrefix is the row above)"},
	{Name: "helm valuesInline", Kust: "helmGlobals:\n  chartHome: ../charts\nhelmCharts:\n  - name: web\n    releaseName: web\n    valuesInline:\n      stdin: flagged\n      image:\n        tag: flagged\n",
		SchemaPath: "spec.template.spec.containers[0].stdin", SchemaAt: "env/kustomization.yaml:11", PolicyPath: "spec.template.spec.containers[0].image", PolicyAt: "env/kustomization.yaml:13", DiffAt: "env/kustomization.yaml:13"},
	{Name: "helm values file", Kust: "helmGlobals:\n  chartHome: ../charts\nhelmCharts:\n  - name: web\n    releaseName: web\n    valuesFile: values-env.yaml\n",
		Files:      map[string]string{"env/values-env.yaml": "stdin: flagged\nimage:\n  tag: flagged\n"},
		SchemaPath: "spec.template.spec.containers[0].stdin", SchemaAt: "env/values-env.yaml:1", PolicyPath: "spec.template.spec.containers[0].image", PolicyAt: "env/values-env.yaml:3", DiffAt: "env/values-env.yaml:3"},
}

// Sources builds the head (the row's feature) and the base (the same
// with every "flagged" a "normal" and 77 a 3): the diff between them is the
// feature's value.
func Sources(row Row) (head, base map[string]string) {
	h, b := map[string]string{}, map[string]string{}
	for k, v := range Base {
		h[k], b[k] = v, v
	}
	h["env/kustomization.yaml"] = Head + row.Kust
	for k, v := range row.Files {
		h[k] = v
	}
	for k, v := range h {
		if _, ok := Base[k]; !ok {
			b[k] = strings.NewReplacer("flagged", "normal", "77", "3").Replace(v)
		}
	}
	return h, b
}
