package engine_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/engine"
	"github.com/gate-ops/gate/checks/policy"
	"github.com/gate-ops/gate/checks/report"
	"github.com/gate-ops/gate/checks/schema"
	"github.com/gate-ops/gate/checks/source"
)

// The repo every row of TestFieldOrigins builds on: a base Deployment, an
// environment env/ that uses it, and a policy that denies every string
// holding "flagged" and every 77, at the field's path.
var fieldBase = map[string]string{
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

const fieldHead = `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../base
`

// fieldRow is one kustomize feature that sets a field, and where a schema
// finding, a policy finding and a diff entry on that field must land ("" when
// the feature cannot cause that kind of entry, with the reason in why).
type fieldRow struct {
	name string
	// kust is appended to fieldHead (so it starts on line 5); files are
	// extra files of the head.
	kust  string
	files map[string]string
	kind  string // the object the entries are on (default Deployment)
	// path is the dotted field path of the entries.
	schemaPath, schemaAt string
	policyPath, policyAt string
	diffAt               string
	// identityAt is where both entries of an identity change (the object
	// removed under its old name or namespace, added under the new) land.
	identityAt string
}

var fieldRows = []fieldRow{
	{name: "images", kust: "images:\n  - name: example.com/app\n    newTag: flagged\n",
		policyPath: "spec.template.spec.containers[0].image", policyAt: "env/kustomization.yaml:7", diffAt: "env/kustomization.yaml:7"},
	{name: "replicas", kust: "replicas:\n  - name: app\n    count: 77\n",
		policyPath: "spec.replicas", policyAt: "env/kustomization.yaml:7", diffAt: "env/kustomization.yaml:7"},
	// namespace, namePrefix and nameSuffix change the object's identity:
	// the diff is a removal and an addition, not a field change; both land
	// on the transformer's line.
	{name: "namespace", kust: "namespace: flagged_ns\n",
		schemaPath: "metadata.namespace", schemaAt: "env/kustomization.yaml:5", policyPath: "metadata.namespace", policyAt: "env/kustomization.yaml:5",
		identityAt: "env/kustomization.yaml:5"},
	{name: "namePrefix", kust: "namePrefix: flagged_\n",
		schemaPath: "metadata.name", schemaAt: "env/kustomization.yaml:5", policyPath: "metadata.name", policyAt: "env/kustomization.yaml:5",
		identityAt: "env/kustomization.yaml:5"},
	{name: "nameSuffix", kust: "nameSuffix: _flagged\n",
		schemaPath: "metadata.name", schemaAt: "env/kustomization.yaml:5", policyPath: "metadata.name", policyAt: "env/kustomization.yaml:5",
		identityAt: "env/kustomization.yaml:5"},
	// Both at once: the namespace line (the object moves namespace).
	{name: "namespace and namePrefix", kust: "namePrefix: flagged_\nnamespace: flagged_ns\n",
		policyPath: "metadata.name", policyAt: "env/kustomization.yaml:5", identityAt: "env/kustomization.yaml:6"},
	// A generated ConfigMap renamed by the prefix (its hash stays): the
	// prefix's line, not the generator's.
	{name: "namePrefix on a generated ConfigMap", kind: "ConfigMap", kust: "namePrefix: flagged-\nconfigMapGenerator:\n  - name: app-config\n    literals:\n      - MODE=x\n",
		identityAt: "env/kustomization.yaml:5"},
	// The prefix comes from a component the overlay uses.
	{name: "namePrefix in a component", kust: "components:\n  - ../comp\n",
		files:      map[string]string{"comp/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nnamePrefix: flagged-\n"},
		identityAt: "comp/kustomization.yaml:3"},
	{name: "labels", kust: "labels:\n  - pairs:\n      team: flagged value!\n",
		schemaPath: "metadata.labels.team", schemaAt: "env/kustomization.yaml:7", policyPath: "metadata.labels.team", policyAt: "env/kustomization.yaml:7", diffAt: "env/kustomization.yaml:7"},
	{name: "commonLabels", kust: "commonLabels:\n  team: flagged value!\n",
		schemaPath: "metadata.labels.team", schemaAt: "env/kustomization.yaml:6", policyPath: "spec.selector.matchLabels.team", policyAt: "env/kustomization.yaml:6", diffAt: "env/kustomization.yaml:6"},
	{name: "commonAnnotations", kust: "commonAnnotations:\n  example.com/team: flagged\n",
		policyPath: "metadata.annotations.example.com/team", policyAt: "env/kustomization.yaml:6", diffAt: "env/kustomization.yaml:6"},
	{name: "configMapGenerator", kind: "ConfigMap", kust: "configMapGenerator:\n  - name: app-config\n    options:\n      disableNameSuffixHash: true\n    literals:\n      - MODE=flagged\n",
		policyPath: "data.MODE", policyAt: "env/kustomization.yaml:10", diffAt: "env/kustomization.yaml:10"},
	// Secret data is base64 on the object: a policy does not see "flagged".
	{name: "secretGenerator", kind: "Secret", kust: "secretGenerator:\n  - name: creds\n    options:\n      disableNameSuffixHash: true\n    literals:\n      - TOKEN=flagged\n",
		diffAt: "env/kustomization.yaml:10"},
	{name: "generatorOptions", kind: "ConfigMap", kust: "generatorOptions:\n  disableNameSuffixHash: true\n  labels:\n    team: flagged value!\nconfigMapGenerator:\n  - name: app-config\n    literals:\n      - MODE=x\n",
		schemaPath: "metadata.labels.team", schemaAt: "env/kustomization.yaml:8", policyPath: "metadata.labels.team", policyAt: "env/kustomization.yaml:8", diffAt: "env/kustomization.yaml:8"},
	{name: "patches SMP file", kust: "patches:\n  - path: patch.yaml\n",
		files:      map[string]string{"env/patch.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          stdin: flagged\n"},
		schemaPath: "spec.template.spec.containers[0].stdin", schemaAt: "env/patch.yaml:10", policyPath: "spec.template.spec.containers[0].stdin", policyAt: "env/patch.yaml:10", diffAt: "env/patch.yaml:10"},
	{name: "patchesStrategicMerge", kust: "patchesStrategicMerge:\n  - patch.yaml\n",
		files:      map[string]string{"env/patch.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          stdin: flagged\n"},
		schemaPath: "spec.template.spec.containers[0].stdin", schemaAt: "env/patch.yaml:10", policyPath: "spec.template.spec.containers[0].stdin", policyAt: "env/patch.yaml:10", diffAt: "env/patch.yaml:10"},
	{name: "patches SMP inline", kust: "patches:\n  - patch: |-\n      apiVersion: apps/v1\n      kind: Deployment\n      metadata:\n        name: app\n      spec:\n        template:\n          spec:\n            containers:\n              - name: app\n                stdin: flagged\n",
		schemaPath: "spec.template.spec.containers[0].stdin", schemaAt: "env/kustomization.yaml:16", policyPath: "spec.template.spec.containers[0].stdin", policyAt: "env/kustomization.yaml:16", diffAt: "env/kustomization.yaml:16"},
	{name: "patches JSON6902 inline with target", kust: "patches:\n  - target:\n      kind: Deployment\n      name: app\n    patch: |-\n      - op: add\n        path: /spec/template/spec/containers/0/stdin\n        value: flagged\n",
		schemaPath: "spec.template.spec.containers[0].stdin", schemaAt: "env/kustomization.yaml:11", policyPath: "spec.template.spec.containers[0].stdin", policyAt: "env/kustomization.yaml:11", diffAt: "env/kustomization.yaml:11"},
	{name: "patches JSON6902 file with target", kust: "patches:\n  - path: ops.yaml\n    target:\n      kind: Deployment\n      name: app\n",
		files:      map[string]string{"env/ops.yaml": "- op: add\n  path: /spec/template/spec/containers/0/stdin\n  value: flagged\n"},
		schemaPath: "spec.template.spec.containers[0].stdin", schemaAt: "env/ops.yaml:2", policyPath: "spec.template.spec.containers[0].stdin", policyAt: "env/ops.yaml:2", diffAt: "env/ops.yaml:2"},
	{name: "replacements", kust: "configMapGenerator:\n  - name: vals\n    options:\n      disableNameSuffixHash: true\n    literals:\n      - STDIN=flagged\nreplacements:\n  - source:\n      kind: ConfigMap\n      name: vals\n      fieldPath: data.STDIN\n    targets:\n      - select:\n          kind: Deployment\n        fieldPaths:\n          - spec.template.spec.containers.[name=app].stdin\n        options:\n          create: true\n",
		schemaPath: "spec.template.spec.containers[0].stdin", schemaAt: "env/kustomization.yaml:20", policyPath: "spec.template.spec.containers[0].stdin", policyAt: "env/kustomization.yaml:20", diffAt: "env/kustomization.yaml:20"},
	{name: "components", kust: "components:\n  - ../comp\n",
		files:      map[string]string{"comp/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nimages:\n  - name: example.com/app\n    newTag: flagged\n"},
		policyPath: "spec.template.spec.containers[0].image", policyAt: "comp/kustomization.yaml:5", diffAt: "comp/kustomization.yaml:5"},
	{name: "helm valuesInline", kust: "helmGlobals:\n  chartHome: ../charts\nhelmCharts:\n  - name: web\n    releaseName: web\n    valuesInline:\n      stdin: flagged\n      image:\n        tag: flagged\n",
		schemaPath: "spec.template.spec.containers[0].stdin", schemaAt: "env/kustomization.yaml:11", policyPath: "spec.template.spec.containers[0].image", policyAt: "env/kustomization.yaml:13", diffAt: "env/kustomization.yaml:13"},
	{name: "helm values file", kust: "helmGlobals:\n  chartHome: ../charts\nhelmCharts:\n  - name: web\n    releaseName: web\n    valuesFile: values-env.yaml\n",
		files:      map[string]string{"env/values-env.yaml": "stdin: flagged\nimage:\n  tag: flagged\n"},
		schemaPath: "spec.template.spec.containers[0].stdin", schemaAt: "env/values-env.yaml:1", policyPath: "spec.template.spec.containers[0].image", policyAt: "env/values-env.yaml:3", diffAt: "env/values-env.yaml:3"},
}

// rowSources builds the head (the row's feature) and the base (the same
// with every "flagged" a "normal" and 77 a 3): the diff between them is the
// feature's value.
func rowSources(row fieldRow) (head, base source.Source) {
	h, b := map[string]string{}, map[string]string{}
	for k, v := range fieldBase {
		h[k], b[k] = v, v
	}
	h["env/kustomization.yaml"] = fieldHead + row.kust
	for k, v := range row.files {
		h[k] = v
	}
	for k, v := range h {
		if _, ok := fieldBase[k]; !ok {
			b[k] = strings.NewReplacer("flagged", "normal", "77", "3").Replace(v)
		}
	}
	return source.NewMem("head", h), source.NewMem("base", b)
}

func runRow(t *testing.T, row fieldRow) *checks.Report {
	t.Helper()
	head, base := rowSources(row)
	cfg, _, err := config.Load(base, "")
	if err != nil {
		t.Fatal(err)
	}
	st, finds, err := schema.New(schema.Options{Config: cfg.Schemas, Source: base})
	if err != nil || len(finds) > 0 {
		t.Fatalf("schema stage: %v %v", err, finds)
	}
	ps, pfinds := policy.Load(context.Background(), base, cfg, policy.Options{DefaultKubernetesVersion: schema.DefaultKubernetesVersion()})
	if len(pfinds) > 0 {
		t.Fatalf("policy stage: %v", pfinds)
	}
	rep, err := engine.Run(context.Background(), &engine.Request{Head: head, Base: base, Config: cfg, Stages: []engine.Stage{st, ps}})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestFieldOrigins: for every kustomize feature that sets a field, a schema
// finding, a policy finding and a diff entry on that field land on the line
// of the feature that last set it, in the report and in the App's check-run
// annotations.
func TestFieldOrigins(t *testing.T) {
	for _, row := range fieldRows {
		t.Run(row.name, func(t *testing.T) {
			rep := runRow(t, row)
			kind := row.kind
			if kind == "" {
				kind = "Deployment"
			}
			if len(rep.Envs) != 1 {
				t.Fatalf("%d environments", len(rep.Envs))
			}
			er := &rep.Envs[0]
			for _, f := range er.Findings {
				if f.Check == "render" {
					t.Fatalf("render finding: %s", f)
				}
			}
			cr := report.EnvCheckRun(rep, er, report.CheckRunOptions{})
			var anns []report.Annotation
			for _, b := range cr.Batches {
				anns = append(anns, b...)
			}
			check := func(what, check, path, want string) {
				if want == "" {
					return
				}
				var got []string
				for _, f := range er.Findings {
					if f.Check != check || f.Resource == nil || f.Resource.Kind != kind || f.Path != path {
						continue
					}
					got = append(got, f.Origin.String())
					if f.Origin.String() == want && !f.Origin.Approximate {
						// The same finding as an App annotation.
						for _, a := range anns {
							if a.Path == f.Origin.File && a.StartLine == f.Origin.Line && strings.Contains(a.Message, path) {
								return
							}
						}
						t.Errorf("%s finding at %s has no check-run annotation there: %+v", what, want, anns)
						return
					}
				}
				t.Errorf("%s finding on %s %s at %v, want %s; findings:\n%s", what, kind, path, got, want, findingList(er.Findings))
			}
			check("schema", "schema", row.schemaPath, row.schemaAt)
			check("policy", "policy", row.policyPath, row.policyAt)
			if row.diffAt != "" {
				var got []string
				ok := false
				if er.Diff != nil {
					for _, c := range er.Diff.Changes {
						if c.ID.Kind == kind && c.Action == checks.ActionChanged {
							got = append(got, c.Origin.String())
							ok = ok || c.Origin.String() == row.diffAt && !c.Origin.Approximate
						}
					}
				}
				if !ok {
					t.Errorf("diff entry of %s at %v, want %s", kind, got, row.diffAt)
				}
			}
			if row.identityAt != "" {
				var got []string
				actions := map[string]bool{}
				if er.Diff != nil {
					for _, c := range er.Diff.Changes {
						if c.ID.Kind != kind {
							continue
						}
						got = append(got, c.Action+" "+c.ID.String()+" at "+c.Origin.String())
						if c.Origin.String() == row.identityAt && !c.Origin.Approximate {
							actions[c.Action] = true
						}
					}
				}
				if len(got) != 2 || !actions[checks.ActionRemoved] || !actions[checks.ActionAdded] {
					t.Errorf("diff entries of %s: %v; want one removal and one addition, both at %s", kind, got, row.identityAt)
				}
			}
		})
	}
}

func findingList(fs []checks.Finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString("  " + f.String() + " [" + f.Path + "]\n")
	}
	return b.String()
}

// TestCorpusFindingLines: for every finding of the testdata corpus (and of
// every TestFieldOrigins row) on a field, the line it names mentions the
// field (its last path element), or its value (for an image, its tag,
// digest or name), or the origin says it is approximate. No finding points
// at a line that does not hold what it speaks of with confidence.
func TestCorpusFindingLines(t *testing.T) {
	type corpus struct {
		name string
		src  source.Source
	}
	var corpora []corpus
	for _, dir := range []string{"../../testdata/example", "../../testdata/overlay-repo", "../../testdata/schema/crd-repo"} {
		src, err := source.OpenDir(dir, 0)
		if err != nil {
			t.Fatal(err)
		}
		corpora = append(corpora, corpus{dir, src})
	}
	for _, row := range fieldRows {
		head, _ := rowSources(row)
		corpora = append(corpora, corpus{"row " + row.name, head})
	}
	checked := 0
	for _, c := range corpora {
		cfg, _, err := config.Load(c.src, "")
		if err != nil {
			t.Fatal(err)
		}
		st, _, err := schema.New(schema.Options{Config: cfg.Schemas, Source: c.src})
		if err != nil {
			t.Fatal(err)
		}
		ps, _ := policy.Load(context.Background(), c.src, cfg, policy.Options{DefaultKubernetesVersion: schema.DefaultKubernetesVersion()})
		req := &engine.Request{Head: c.src, Config: cfg, Stages: []engine.Stage{st, ps}}
		rep, err := engine.Run(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		results, _, err := engine.RenderEnvs(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		objects := map[string]map[string]any{}
		for _, r := range results {
			for _, res := range r.Resources {
				objects[r.Env.Name+"|"+res.ID.String()] = res.Object
			}
		}
		for _, f := range rep.AllFindings() {
			if f.Path == "" || f.Resource == nil || f.Origin.Line <= 0 || f.Origin.Approximate {
				continue
			}
			b, err := c.src.ReadFile(f.Origin.File)
			if err != nil {
				t.Errorf("%s: %s: %v", c.name, f, err)
				continue
			}
			lines := strings.Split(string(b), "\n")
			if f.Origin.Line > len(lines) {
				t.Errorf("%s: %s: line past the end of the file", c.name, f)
				continue
			}
			line := lines[f.Origin.Line-1]
			segs := pathSegments(f.Path)
			last := ""
			for i := len(segs) - 1; i >= 0 && last == ""; i-- {
				if _, err := strconv.Atoi(segs[i]); err != nil {
					last = segs[i]
				}
			}
			var words []string
			if last != "" {
				words = append(words, last)
			}
			if v, ok := valueAt(objects[f.Env+"|"+f.Resource.String()], segs); ok {
				switch x := v.(type) {
				case string:
					words = append(words, x)
					if last == "image" {
						words = append(words, strings.FieldsFunc(x, func(r rune) bool { return r == ':' || r == '@' || r == '/' })...)
					}
				case map[string]any, []any:
				default:
					words = append(words, fmt.Sprint(x))
				}
			}
			checked++
			ok := false
			for _, w := range words {
				ok = ok || w != "" && strings.Contains(line, w)
			}
			if !ok {
				t.Errorf("%s: %s\n  names %s:%d %q, which mentions none of %q and is not marked approximate", c.name, f, f.Origin.File, f.Origin.Line, line, words)
			}
		}
	}
	if checked < 40 {
		t.Errorf("only %d findings on fields checked: the corpus should give more", checked)
	}
	t.Logf("%d findings on fields checked", checked)
}

// pathSegments splits a finding path (spec.containers[0].image or
// spec.containers.0.image) into segments.
func pathSegments(p string) []string {
	p = strings.NewReplacer("[", ".", "]", "").Replace(p)
	return strings.Split(p, ".")
}

func valueAt(obj any, segs []string) (any, bool) {
	cur := obj
	for _, s := range segs {
		switch t := cur.(type) {
		case map[string]any:
			v, ok := t[s]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(s)
			if err != nil || i < 0 || i >= len(t) {
				return nil, false
			}
			cur = t[i]
		default:
			return nil, false
		}
	}
	return cur, true
}
