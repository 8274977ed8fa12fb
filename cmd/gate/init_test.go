package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/schema"
	"github.com/gate-ops/gate/internal/run"
	"github.com/gate-ops/gate/internal/testing/gittest"
)

const widgetCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.acme.io
spec:
  group: acme.io
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
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
              properties:
                size: {type: integer}
`

// TestInit is gate init on an ordinary repo with debt, a conftest policy
// directory and a directory of CRDs: the gate.yaml it writes names what
// it found, the first check it prints agrees with gate check on that
// file, and --baseline makes that check judge only new findings.
func TestInit(t *testing.T) {
	r := debtRepo(t)
	r.Remove("gate.yaml")
	r.Write("policy/web.rego", "package main\n\ndeny contains msg if {\n  input.kind == \"Deployment\"\n  input.metadata.name == \"web\"\n  msg := \"web is frozen\"\n}\n")
	r.Write("policy/web_test.rego", "package main\n")
	r.Write("schemas/acme/widget.yaml", widgetCRD)
	// CRDs a kustomization renders are read from the rendering: the
	// directory cannot be a schemas.paths entry (only CRDs may sit there).
	r.Write("platform/crds/kustomization.yaml", "resources: [widget.yaml]\n")
	r.Write("platform/crds/widget.yaml", strings.Replace(widgetCRD, "acme.io", "platform.io", -1))
	r.Write("app/widget.yaml", "apiVersion: acme.io/v1\nkind: Widget\nmetadata:\n  name: w\nspec:\n  size: many\n")
	k := readRepo(t, r, "app/kustomization.yaml")
	r.Write("app/kustomization.yaml", strings.Replace(k, "  - jobs.yaml\n", "  - jobs.yaml\n  - widget.yaml\n", 1))
	r.Git("add", "-A")
	r.Git("commit", "-q", "-m", "no gate.yaml yet")

	out, stderr, code := runGate(t, "--repo", r.Dir, "init")
	if code != 0 {
		t.Fatalf("gate init: exit %d\n%s%s", code, out, stderr)
	}
	data := readRepo(t, r, "gate.yaml")
	cfg, err := config.Parse("gate.yaml", []byte(data))
	if err != nil {
		t.Fatalf("gate init wrote a gate.yaml gate cannot read: %v\n%s", err, data)
	}
	want := []config.Env{{Name: "app", Path: "app"}, {Name: "crds", Path: "platform/crds"}}
	if !reflect.DeepEqual(cfg.Environments, want) {
		t.Errorf("environments %+v, want %+v", cfg.Environments, want)
	}
	if kv := cfg.Defaults.KubernetesVersion; kv != schema.DefaultKubernetesVersion() {
		t.Errorf("kubernetesVersion %q, want the newest embedded %q", kv, schema.DefaultKubernetesVersion())
	}
	if !reflect.DeepEqual(cfg.Policies.Paths, []string{"policy"}) || !reflect.DeepEqual(cfg.Schemas.Paths, []string{"schemas/acme"}) {
		t.Errorf("policies.paths %v, schemas.paths %v; want [policy] and [schemas/acme] (platform/crds renders its CRDs)", cfg.Policies.Paths, cfg.Schemas.Paths)
	}
	if cfg.Policies.Builtin.Mode() != config.BuiltinRecommended || cfg.Report.FailOn.Scope != "new" {
		t.Errorf("builtin %q, failOn %+v; want recommended and scope new", cfg.Policies.Builtin, cfg.Report.FailOn)
	}
	for _, s := range []string{
		"# kustomize: kustomization not used as a base by any other kustomization\n  - name: app", // why, in the file
		"- policy  # 1 Rego file", "- schemas/acme  # 1 CustomResourceDefinition",
	} {
		if !strings.Contains(data, s) {
			t.Errorf("gate.yaml lacks %q:\n%s", s, data)
		}
	}
	// The first check, grouped by rule: the repo's policy fails web, the
	// Widget's schema fails (its CRD came from schemas.paths), hygiene
	// rules are warnings.
	for _, s := range []string{
		"app  kustomize app: kustomization not used as a base by any other kustomization",
		"Kubernetes version: " + schema.DefaultKubernetesVersion(),
		"policies: the built-in library (recommended) and policy (1 Rego file)",
		"CRD schemas: schemas/acme (1 CustomResourceDefinition)",
		"CRDs next to other YAML, not listed in schemas.paths (those an environment renders are read from its rendering): platform/crds (1 CustomResourceDefinition)",
		"\nwrote gate.yaml\n",
		"the first gate check: FAIL (exit 1): 17 findings in 2 environments",
		"warning resources-set                6 findings in app",
		"to turn gate on with this debt: gate baseline",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("gate init output lacks %q:\n%s", s, out)
		}
	}
	if !strings.Contains(out, "error   schema/") {
		t.Errorf("the Widget with a string size is not a schema error:\n%s", out)
	}
	// gate check says the same with the file init wrote.
	rep, code := checkJSON(t, r.Dir)
	if n := len(rep.AllFindings()); code != 1 || n != 17 {
		t.Errorf("gate check after init: exit %d with %d findings, want exit 1 with the 17 init showed", code, n)
	}

	t.Run("never overwrites", func(t *testing.T) {
		r.Write("gate.yaml", "# mine\n")
		_, stderr, code := runGate(t, "--repo", r.Dir, "init")
		if code != 2 || !strings.Contains(stderr, "gate.yaml exists") || readRepo(t, r, "gate.yaml") != "# mine\n" {
			t.Errorf("exit %d, %s; want exit 2 and the file kept", code, stderr)
		}
		out, _, code := runGate(t, "--repo", r.Dir, "init", "--dry-run")
		if code != 0 || !strings.Contains(out, "--- gate.yaml (not written: --dry-run)\n# gate.yaml, written by gate init") || readRepo(t, r, "gate.yaml") != "# mine\n" {
			t.Errorf("--dry-run: exit %d, the file printed and not written:\n%s", code, out)
		}
	})

	t.Run("baseline", func(t *testing.T) {
		out, stderr, code := runGate(t, "--repo", r.Dir, "init", "--force", "--baseline")
		if code != 0 || !strings.Contains(out, "wrote gate-baseline.json: 17 findings accepted as existing") {
			t.Fatalf("exit %d\n%s%s", code, out, stderr)
		}
		rep, code := checkJSON(t, r.Dir)
		if b := rep.Baseline; code != 0 || b == nil || b.New != 0 || b.Existing != 17 {
			t.Errorf("gate check after init --baseline: exit %d, baseline %+v; want exit 0, 0 new, 17 existing", code, b)
		}
	})
}

// TestInitArgoCD: Argo CD Applications are found on every run; init lists
// them in comments and declares no environments (declared paths would
// render as plain kustomizations).
func TestInitArgoCD(t *testing.T) {
	r := gittest.New(t)
	r.CopyTree("../../testdata/argocd")
	if err := os.Remove(filepath.Join(r.Dir, "gate.yaml")); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	r.Git("add", "-A")
	r.Git("commit", "-q", "-m", "argo")
	out, stderr, code := runGate(t, "--repo", r.Dir, "init", "--dry-run")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, stderr)
	}
	yml := out[strings.Index(out, "--- gate.yaml"):]
	yml = yml[strings.Index(yml, "\n")+1 : strings.Index(yml, "\nthe first gate check")]
	cfg, err := config.Parse("gate.yaml", []byte(yml))
	if err != nil || len(cfg.Environments) != 0 {
		t.Fatalf("gate.yaml (err %v) declares %d environments, want none:\n%s", err, len(cfg.Environments), yml)
	}
	if !strings.Contains(yml, "# Environments are discovered on every run") || !strings.Contains(yml, " (argocd ") {
		t.Errorf("the Applications are not listed:\n%s", yml)
	}
}

// TestYAMLString: what init writes from the repo's names reads back as
// the same string, whatever the name.
func TestYAMLString(t *testing.T) {
	for _, s := range []string{"prod", "overlays/prod", "true", "no", "1.35", "", "a: b", "#x", "- x", "x\ny", "\x1b[31mred", "it's \"q\"", "\u202eevil", "~", "null", "*ref", "&a", "{a}", "%x", "@x", "`x"} {
		var got string
		if err := yaml.Unmarshal([]byte("v: "+run.YAMLString(s)+"\n"), &struct{ V *string }{&got}); err != nil {
			t.Errorf("%q as %s: %v", s, run.YAMLString(s), err)
			continue
		}
		if got != s {
			t.Errorf("%q as %s reads back %q", s, run.YAMLString(s), got)
		}
	}
}
