package config

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"unknown top-level key", "apiVersion: gate/v1\nenvironmnets: []\n", `gate.yaml:2: unknown key "environmnets" in gate.yaml`},
		{"unknown env key", "environments:\n  - name: prod\n    path: overlays/prod\n    cluser: x\n", `gate.yaml:4: unknown key "cluser" in an environment`},
		{"unknown nested key", "policies:\n  paths: [policy]\n  rulez: {}\n", `gate.yaml:3: unknown key "rulez" in policies`},
		{"env without path", "environments:\n  - name: prod\n", `gate.yaml:2: environment "prod" needs a path`},
		{"duplicate env", "environments:\n  - {name: a, path: x}\n  - {name: a, path: y}\n", `gate.yaml:3: environment "a" declared twice`},
		{"bad env name", "environments:\n  - {name: 'a b', path: x}\n", `gate.yaml:2: environment name "a b"`},
		{"bad apiVersion", "apiVersion: gate/v9\n", `gate.yaml:1: apiVersion "gate/v9" is not supported`},
		{"exception without reason", "exceptions:\n  - rule: image-tag\n    expires: 2030-01-01\n", `gate.yaml:2: an exception needs rule, reason and expires`},
		{"bad expiry", "exceptions:\n  - {rule: a, reason: b, expires: soon}\n", `gate.yaml:2: exception expires "soon"`},
		{"invalid yaml", "environments:\n  - name: [\n", `gate.yaml:2: `},
		{"not a mapping", "- a\n- b\n", `gate.yaml`},
		{"bad builtin set", "policies: {builtin: lenient}\n", `gate.yaml:1: policies.builtin "lenient": want recommended, strict or off`},
		{"unknown failOn key", "report:\n  failOn:\n    severity: error\n    scop: new\n", `gate.yaml:4: unknown key "scop" in report.failOn`},
		{"bad failOn scope", "report:\n  failOn: {severity: error, scope: changed}\n", `gate.yaml:1: report.failOn.scope: unknown scope "changed" (want new or all)`},
		{"bad failOn severity", "report: {failOn: fatal}\n", `gate.yaml:1: report.failOn: unknown severity "fatal"`},
		{"kubeconform's comma list in skip", "apiVersion: gate/v1\nschemas:\n  skip: [\"Deployment,Service\"]\n", `gate.yaml:2: schemas.skip[0] "Deployment,Service": want one kind`},
		{"bad reject item", "schemas:\n  reject: [Secret, 'v1 / Pod']\n", `gate.yaml:1: schemas.reject[1] "v1 / Pod": want one kind`},
		{"kind skipped and rejected", "schemas:\n  skip: [v1/Secret]\n  reject: [v1/Secret]\n", `gate.yaml:1: schemas.reject[0] "v1/Secret" is also in schemas.skip`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("gate.yaml", []byte(tt.in))
			if err == nil {
				t.Fatalf("no error for %q", tt.in)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("got %q, want prefix %q", err, tt.want)
			}
		})
	}
}

func TestParseExample(t *testing.T) {
	b, err := os.ReadFile("../../testdata/example/gate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse("gate.yaml", b)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Environments) != 3 || cfg.Environments[2].Name != "prod" || cfg.Environments[2].Labels["tier"] != "production" {
		t.Errorf("unexpected environments: %+v", cfg.Environments)
	}
	if cfg.Lines["environments[2]"] != 12 {
		t.Errorf("prod declared at line %d, want 12", cfg.Lines["environments[2]"])
	}
}

// TestFailOnSpellings: report.failOn is a severity alone (scope stays the
// default) or a mapping with severity and scope.
func TestFailOnSpellings(t *testing.T) {
	for _, tt := range []struct{ in, sev, scope string }{
		{"report: {failOn: warning}\n", "warning", ""},
		{"report:\n  failOn: {severity: error, scope: all}\n", "error", "all"},
		{"report:\n  failOn:\n    scope: new\n", "", "new"},
	} {
		cfg, err := Parse("gate.yaml", []byte(tt.in))
		if err != nil {
			t.Fatalf("%q: %v", tt.in, err)
		}
		if cfg.Report.FailOn.Severity != tt.sev || cfg.Report.FailOn.Scope != tt.scope {
			t.Errorf("%q: got %+v, want severity %q scope %q", tt.in, cfg.Report.FailOn, tt.sev, tt.scope)
		}
	}
}

// TestSchemaMatchesStruct keeps the published JSON schema and the Go
// struct in step: every field the decoder accepts is in the schema, and
// the schema accepts a config that uses every field.
func TestSchemaMatchesStruct(t *testing.T) {
	var doc any
	if err := json.Unmarshal(Schema, &doc); err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("gate.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("gate.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	full := `
apiVersion: gate/v1
kind: Config
defaults: {kubernetesVersion: "1.35"}
environments:
  - name: prod
    path: overlays/prod
    kubernetesVersion: "1.34"
    cluster: prod
    labels: {tier: production}
    valuesFiles: [values-prod.yaml]
    namespace: shop
    rules: {image-tag-pinned: warning}
discovery: {exclude: [legacy]}
schemas: {paths: [schemas], missingSchema: error, strict: true, skip: [SealedSecret]}
policies: {paths: [policy], namespaces: [main], builtin: strict, rules: {privileged: "off"}, data: [data.yaml], requiredLabels: [team]}
exceptions:
  - {rule: privileged, env: prod, kind: DaemonSet, name: node-agent, namespace: kube-system, reason: needs host access, expires: "2030-01-01"}
diff: {ignore: [metadata.annotations.x], contextLines: 5}
live: {kubeconfig: ~/.kube/config, pruneSelector: "app=shop", timeout: 30s}
limits: {maxFileSize: 16Mi, maxDocuments: 1000, renderTimeout: 1m, policyTimeout: 1s, runTimeout: 10m}
report: {failOn: {severity: warning, scope: all}}
charts: {allow: ["https://charts.example.com", "oci://ghcr.io/org"], mirrors: {"https://charts.example.com": "http://127.0.0.1:8080/proxy"}}
`
	if _, err := Parse("gate.yaml", []byte(full)); err != nil {
		t.Fatalf("Go decoder refuses a full config: %v", err)
	}
	var v any
	if err := yaml.Unmarshal([]byte(full), &v); err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(v); err != nil {
		t.Fatalf("schema refuses a full config: %v", err)
	}
	// Every yaml tag of Config is a property of the schema.
	props := doc.(map[string]any)["properties"].(map[string]any)
	rt := reflect.TypeOf(Config{})
	for i := 0; i < rt.NumField(); i++ {
		tag := strings.Split(rt.Field(i).Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		if _, ok := props[tag]; !ok {
			t.Errorf("gate.schema.json lacks top-level property %q", tag)
		}
	}
	var bad any
	_ = yaml.Unmarshal([]byte("environmnets: []\n"), &bad)
	if err := sch.Validate(bad); err == nil {
		t.Error("schema accepts an unknown key")
	}
}

func TestChartsAllowAndMirrors(t *testing.T) {
	cfg, err := Parse("gate.yaml", []byte(`charts:
  allow: ["https://Charts.Example.com/stable/", "oci://ghcr.io/org"]
  mirrors:
    "https://charts.example.com": "http://127.0.0.1:8080/proxy/"
    "https://charts.example.com/stable": "http://127.0.0.1:8080/stable-proxy"
    "oci://ghcr.io": "oci://127.0.0.1:5000/ghcr"
`))
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{
		"https://charts.example.com/stable":       true,
		"https://charts.example.com/stable/":      true,
		"https://charts.example.com/stable/sub":   true,
		"https://charts.example.com/stablex":      false,
		"https://charts.example.com":              false,
		"oci://ghcr.io/org/charts":                true,
		"oci://ghcr.io/organisation":              false,
		"http://charts.example.com/stable":        false,
		"https://evil.example/charts.example.com": false,
	}
	for u, want := range allowed {
		if got := cfg.ChartAllowed(u); got != want {
			t.Errorf("ChartAllowed(%s) = %v, want %v", u, got, want)
		}
	}
	mirrors := map[string]string{
		"https://charts.example.com/stable/index.yaml": "http://127.0.0.1:8080/stable-proxy/index.yaml",
		"https://charts.example.com/other/a.tgz":       "http://127.0.0.1:8080/proxy/other/a.tgz",
		"oci://ghcr.io/org/charts/podinfo":             "oci://127.0.0.1:5000/ghcr/org/charts/podinfo",
		"https://elsewhere.example/x":                  "https://elsewhere.example/x",
	}
	for u, want := range mirrors {
		if got := cfg.ChartMirror(u); got != want {
			t.Errorf("ChartMirror(%s) = %s, want %s", u, got, want)
		}
	}
	for _, bad := range []string{
		"charts: {allow: [charts.example.com]}\n",
		"charts: {mirrors: {\"oci://ghcr.io\": \"https://proxy.example\"}}\n",
		"charts: {allowed: []}\n",
	} {
		if _, err := Parse("gate.yaml", []byte(bad)); err == nil || !strings.Contains(err.Error(), "gate.yaml:1") {
			t.Errorf("Parse(%q) = %v, want an error on line 1", bad, err)
		}
	}
}

// TestKubeconformKindLists: every shape kubeconform's -skip and -reject
// take (a kind, or apiVersion/Kind with or without a group) parses.
func TestKubeconformKindLists(t *testing.T) {
	in := "schemas:\n  skip: [ConfigMap, v1/Secret, apps/v1/Deployment, monitoring.coreos.com/v1/ServiceMonitor, team]\n  reject: [extensions/v1beta1/Ingress, PodSecurityPolicy]\n"
	cfg, err := Parse("gate.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Schemas.Skip) != 5 || len(cfg.Schemas.Reject) != 2 || cfg.Schemas.Reject[0] != "extensions/v1beta1/Ingress" {
		t.Errorf("got skip %v reject %v", cfg.Schemas.Skip, cfg.Schemas.Reject)
	}
}
