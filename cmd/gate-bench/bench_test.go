package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	jsonschema "github.com/santhosh-tekuri/jsonschema/v6"
	sigsyaml "sigs.k8s.io/yaml"
)

func TestMedian(t *testing.T) {
	s := time.Second
	for _, tc := range []struct {
		in   []time.Duration
		want time.Duration
	}{
		{nil, 0},
		{[]time.Duration{3 * s}, 3 * s},
		{[]time.Duration{5 * s, 1 * s, 3 * s}, 3 * s},
		{[]time.Duration{4 * s, 1 * s, 3 * s, 2 * s}, 2 * s}, // lower middle: a measured figure
	} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// The paths must be the ones kubeconform expands kubeconformTemplate to:
// Group is the first part of apiVersion ("v1" for the core group).
func TestSchemaFile(t *testing.T) {
	for _, tc := range []struct{ apiVersion, kind, want string }{
		{"v1", "Service", "v1/service_v1.json"},
		{"apps/v1", "Deployment", "apps/deployment_v1.json"},
		{"networking.k8s.io/v1", "Ingress", "networking.k8s.io/ingress_v1.json"},
		{"monitoring.gate.example/v1", "Probe", "monitoring.gate.example/probe_v1.json"},
	} {
		if got := filepath.ToSlash(schemaFile(tc.apiVersion, tc.kind)); got != tc.want {
			t.Errorf("schemaFile(%q, %q) = %q, want %q", tc.apiVersion, tc.kind, got, tc.want)
		}
	}
}

func TestCRDToSchemaIsStrict(t *testing.T) {
	in := map[string]any{
		"type": "object",
		"properties": map[string]any{
			"spec": map[string]any{
				"type":                                 "object",
				"x-kubernetes-preserve-unknown-fields": false,
				"properties":                           map[string]any{"target": map[string]any{"type": "string"}},
			},
			"status": map[string]any{"type": "object", "additionalProperties": true, "properties": map[string]any{}},
		},
	}
	out := crdToSchema(in)
	if out["additionalProperties"] != false {
		t.Errorf("top level not strict: %v", out["additionalProperties"])
	}
	props := out["properties"].(map[string]any)
	for _, k := range []string{"apiVersion", "kind", "metadata"} {
		if props[k] == nil {
			t.Errorf("top-level %s not allowed", k)
		}
	}
	spec := props["spec"].(map[string]any)
	if spec["additionalProperties"] != false {
		t.Errorf("spec not strict: %v", spec)
	}
	if _, ok := spec["x-kubernetes-preserve-unknown-fields"]; ok {
		t.Errorf("x-kubernetes extension kept: %v", spec)
	}
	if st := props["status"].(map[string]any); st["additionalProperties"] != true {
		t.Errorf("an explicit additionalProperties was overridden: %v", st)
	}
	if crdToSchema(nil)["properties"] == nil {
		t.Error("a CRD version without a schema must still give an object schema")
	}
}

func TestCollectRefsFollowsTheGraph(t *testing.T) {
	defs := map[string]map[string]any{
		"A": {"properties": map[string]any{"b": map[string]any{"$ref": "#/definitions/B"}}},
		"B": {"items": []any{map[string]any{"$ref": "#/definitions/C"}}},
		"C": {"properties": map[string]any{"a": map[string]any{"$ref": "#/definitions/A"}}}, // a cycle
		"D": {"type": "string"},
	}
	seen := map[string]bool{}
	collectRefs(defs, "A", seen)
	if want := map[string]bool{"A": true, "B": true, "C": true}; !reflect.DeepEqual(seen, want) {
		t.Errorf("reached %v, want %v", seen, want)
	}
}

func TestConftestSetSplitsRulesByScope(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, body string) {
		p := filepath.Join(dir, "policies", rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("tag/policy.rego", "# METADATA\n# custom:\n#   id: tag\npackage gate.builtin.tag\n")
	write("prod/policy.rego", "# METADATA\n# custom:\n#   id: prod\n#   scope: environment\npackage gate.builtin.prod\n")
	write("prod/policy_test.rego", "package gate.builtin.prod_test\n")
	write("lib/k8s.rego", "package gate.lib.k8s\n")
	write("lib/k8s_test.rego", "package gate.lib.k8s_test\n")
	set, err := writeConftestSet(filepath.Join(dir, "policies"), filepath.Join(dir, "out"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(set.Resource, []string{"tag"}) || !reflect.DeepEqual(set.Env, []string{"prod"}) {
		t.Errorf("resource rules %v, environment rules %v", set.Resource, set.Env)
	}
	for _, p := range set.Paths {
		if strings.HasSuffix(p, "_test.rego") {
			t.Errorf("test file %s handed to conftest", p)
		}
	}
	main, err := os.ReadFile(filepath.Join(dir, "out", "main.rego"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"package main", `resource_rules := ["tag"]`, `env_rules := ["prod"]`} {
		if !strings.Contains(string(main), want) {
			t.Errorf("main.rego lacks %q:\n%s", want, main)
		}
	}
}

func TestEnvDataIsWhatPoliciesRead(t *testing.T) {
	p, err := writeEnvData(t.TempDir(), "prod-01", map[string]string{"tier": "production"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	var d struct {
		Gate struct {
			Env struct {
				Name   string            `json:"name"`
				Labels map[string]string `json:"labels"`
			} `json:"env"`
			Config struct {
				RequiredLabels []string `json:"requiredLabels"`
			} `json:"config"`
		} `json:"gate"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	if d.Gate.Env.Name != "prod-01" || d.Gate.Env.Labels["tier"] != "production" || d.Gate.Config.RequiredLabels == nil {
		t.Errorf("data.gate = %s", b)
	}
}

// The exported directory is what the baseline's kubeconform reads (it
// compiles each file with santhosh-tekuri/jsonschema/v6 and its file loader,
// as here): a valid object passes, an unknown field fails, a custom resource
// is checked against its CRD.
func TestExportedSchemasValidate(t *testing.T) {
	dir := t.TempDir()
	n, err := exportK8sSchemas("../../checks/schema/bundles/kubernetes-1.35.json.gz", dir)
	if err != nil {
		t.Fatal(err)
	}
	if n < 100 {
		t.Fatalf("exported %d kinds, want the whole bundle", n)
	}
	repo := t.TempDir()
	crd := `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: probes.monitoring.gate.example
spec:
  group: monitoring.gate.example
  names: {kind: Probe, plural: probes}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              required: [target]
              properties:
                target: {type: string}
`
	if err := os.WriteFile(filepath.Join(repo, "crd.yaml"), []byte(crd), 0o644); err != nil {
		t.Fatal(err)
	}
	if n, err := exportCRDSchemas(repo, dir); err != nil || n != 1 {
		t.Fatalf("exportCRDSchemas = %d, %v; want 1 schema", n, err)
	}
	for _, tc := range []struct {
		name, apiVersion, kind, doc string
		valid                       bool
	}{
		{"valid deployment", "apps/v1", "Deployment", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec:\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n    spec:\n      containers: [{name: c, image: i:1}]\n", true},
		{"unknown field", "apps/v1", "Deployment", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec:\n  replicaz: 2\n  selector: {matchLabels: {a: b}}\n  template:\n    spec:\n      containers: [{name: c, image: i:1}]\n", false},
		{"core kind", "v1", "Service", "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec:\n  ports: [{port: 80}]\n", true},
		{"wrong type", "v1", "Service", "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec:\n  ports: [{port: eighty}]\n", false},
		{"custom resource", "monitoring.gate.example/v1", "Probe", "apiVersion: monitoring.gate.example/v1\nkind: Probe\nmetadata: {name: a}\nspec: {target: http://a}\n", true},
		{"custom resource, unknown field", "monitoring.gate.example/v1", "Probe", "apiVersion: monitoring.gate.example/v1\nkind: Probe\nmetadata: {name: a}\nspec: {target: http://a, every: 5}\n", false},
	} {
		c := jsonschema.NewCompiler()
		c.UseLoader(jsonschema.FileLoader{})
		sch, err := c.Compile(filepath.Join(dir, schemaFile(tc.apiVersion, tc.kind)))
		if err != nil {
			t.Fatalf("%s: compile: %v", tc.name, err)
		}
		j, err := sigsyaml.YAMLToJSON([]byte(tc.doc))
		if err != nil {
			t.Fatal(err)
		}
		obj, err := jsonschema.UnmarshalJSON(strings.NewReader(string(j)))
		if err != nil {
			t.Fatal(err)
		}
		if err := sch.Validate(obj); (err == nil) != tc.valid {
			t.Errorf("%s: valid=%v, want %v (%v)", tc.name, err == nil, tc.valid, err)
		}
	}
}

// The verdict follows the CPU-time ratio, whatever the wall clock says: on a
// shared machine the wall-clock figures move with everyone else's work.
func TestJudgeByCPU(t *testing.T) {
	s := time.Second
	atLeast := ratioTarget{name: "baseline / check", a: "baseline", b: "check", target: 6, atLeast: true}
	atMost := ratioTarget{name: "cold / baseline one", a: "base-cold", b: "baseline-one", target: 0.5}
	for _, tc := range []struct {
		name      string
		t         ratioTarget
		wall, cpu map[string]time.Duration
		want      string
		measured  bool
	}{
		{"6x cpu met though wall is 2x", atLeast, map[string]time.Duration{"baseline": 20 * s, "check": 10 * s}, map[string]time.Duration{"baseline": 60 * s, "check": 10 * s}, "MET", true},
		{"5x cpu missed though wall is 8x", atLeast, map[string]time.Duration{"baseline": 80 * s, "check": 10 * s}, map[string]time.Duration{"baseline": 50 * s, "check": 10 * s}, "MISSED", true},
		{"at most, met", atMost, map[string]time.Duration{"base-cold": 2 * s, "baseline-one": 1 * s}, map[string]time.Duration{"base-cold": 4 * s / 10, "baseline-one": 1 * s}, "MET", true},
		{"at most, missed", atMost, map[string]time.Duration{"base-cold": s, "baseline-one": 2 * s}, map[string]time.Duration{"base-cold": 6 * s / 10, "baseline-one": 1 * s}, "MISSED", true},
		{"not measured", atMost, map[string]time.Duration{"base-cold": s}, map[string]time.Duration{"base-cold": s}, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, ok := judge(tc.t, tc.wall, tc.cpu)
			if ok != tc.measured || v.verdict != tc.want {
				t.Errorf("judge = %+v, %v; want verdict %q, measured %v", v, ok, tc.want, tc.measured)
			}
		})
	}
}

// TestFluxBaselineCommands: the flux-local style baseline builds every
// Kustomization path and templates every HelmRelease with its values
// (written out as a values file), and refuses what it cannot reproduce.
func TestFluxBaselineCommands(t *testing.T) {
	repo, values := t.TempDir(), t.TempDir()
	write := func(rel, body string) {
		t.Helper()
		p := filepath.Join(repo, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("clusters/c1/apps.yaml", "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: apps, namespace: flux-system}\nspec:\n  path: ./envs/c1\n---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: crds, namespace: flux-system}\nspec:\n  path: ./platform/crds\n")
	write("clusters/c1/releases.yaml", "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: cache, namespace: c1}\nspec:\n  chart:\n    spec:\n      chart: ./charts/cache\n      sourceRef: {kind: GitRepository, name: flux-system}\n  values:\n    replicas: 3\n")
	fe, err := loadFluxEnv(repo, "clusters/c1", values)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range fe.commands("/b", "1.35") {
		got = append(got, strings.Join(c, " "))
	}
	vf := filepath.Join(values, "c1", "cache.yaml")
	want := []string{
		"cat clusters/c1/apps.yaml",
		"cat clusters/c1/releases.yaml",
		"/b/kustomize build envs/c1",
		"/b/kustomize build platform/crds",
		"/b/helm template cache charts/cache --namespace c1 --values " + vf + " --kube-version 1.35.0 --include-crds --skip-tests",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("commands:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if b, err := os.ReadFile(vf); err != nil || string(b) != "replicas: 3\n" {
		t.Fatalf("values file: %q %v", b, err)
	}
	write("clusters/c2/releases.yaml", "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: web, namespace: c2}\nspec:\n  chart:\n    spec:\n      chart: web\n      sourceRef: {kind: HelmRepository, name: charts}\n")
	if _, err := loadFluxEnv(repo, "clusters/c2", values); err == nil || !strings.Contains(err.Error(), "in-repo charts") {
		t.Fatalf("a HelmRepository chart: err = %v, want the baseline to refuse it", err)
	}
	if ts := targetsFor("flux"); ts[0].target != 3 || ts[0].a != "baseline" || ts[0].b != "check" || targets[0].target != 6 {
		t.Fatalf("flux targets: %+v (kustomize's first target %v)", ts[0], targets[0].target)
	}
}
