package policy

import (
	"context"
	"strings"
	"testing"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/engine"
	"github.com/gate-ops/gate/checks/render"
	"github.com/gate-ops/gate/checks/source"
)

// reusePolicies read data.gate (a resource-scoped rule) and every object of
// the environment (an environment-scoped one).
const reusePolicies = `package main

deny contains msg if {
	data.gate.env.labels.tier == "production"
	input.kind == "Deployment"
	msg := sprintf("%s runs in production", [input.metadata.name])
}
`

const reuseEnvPolicy = `# METADATA
# custom:
#   scope: environment
package envwide

deny contains {"msg": sprintf("%d objects", [count(input.resources)]), "resource": 0} if {
	count(input.resources) > 1
}
`

const reuseDeployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\nspec:\n  replicas: 1\n"

func reuseStage(t *testing.T) *Stage {
	t.Helper()
	src := source.NewMem("base", map[string]string{
		"policy/main.rego":    reusePolicies,
		"policy/envwide.rego": reuseEnvPolicy,
		"gate.yaml":           "apiVersion: gate/v1\npolicies:\n  builtin: false\n  namespaces: [main, envwide]\n",
	})
	return mustLoad(t, src, mustConfig(t, src), testOpts())
}

func renderFiles(t *testing.T, env checks.Env, files map[string]string) *render.Result {
	t.Helper()
	res := render.New(render.Options{}).Render(context.Background(), source.NewMem("x", files), env)
	for _, f := range res.Findings {
		t.Fatalf("render: %s", f)
	}
	return res
}

func checkWith(t *testing.T, st *Stage, res *render.Result, vs *engine.Verdicts) []checks.Finding {
	t.Helper()
	fs, err := st.Check(context.Background(), &engine.Input{Env: res.Env, Head: res, Verdicts: vs})
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// TestReuseKeyHoldsGateData: the same object in an environment whose
// data.gate differs (same name, other labels) is judged again, not given
// the verdict of the first; the same object with the same data.gate is
// reused.
func TestReuseKeyHoldsGateData(t *testing.T) {
	st := reuseStage(t)
	prod := checks.Env{Name: "x", Path: "envs/x", Kind: render.KindPlain, Labels: map[string]string{"tier": "production"}}
	dev := prod
	dev.Labels = map[string]string{"tier": "development"}
	files := map[string]string{"envs/x/app.yaml": reuseDeployment}
	vs := engine.NewVerdicts()
	got := checkWith(t, st, renderFiles(t, prod, files), vs)
	if len(byRule(got, "main.deny")) != 1 {
		t.Fatalf("production: %s", dump(got))
	}
	got = checkWith(t, st, renderFiles(t, dev, files), vs)
	if len(byRule(got, "main.deny")) != 0 {
		t.Errorf("development judged with production's data.gate: %s", dump(got))
	}
	before := vs.Hits()
	got = checkWith(t, st, renderFiles(t, prod, files), vs)
	if len(byRule(got, "main.deny")) != 1 || vs.Hits() == before {
		t.Errorf("same object, same data: %s, %d verdicts reused", dump(got), vs.Hits()-before)
	}
}

// TestEnvironmentScopeReadsEveryObject: an environment-scoped rule's
// verdict is keyed by every object of the environment: the same first
// object beside a different second one is judged again.
func TestEnvironmentScopeReadsEveryObject(t *testing.T) {
	st := reuseStage(t)
	env := checks.Env{Name: "x", Path: "envs/x", Kind: render.KindPlain}
	vs := engine.NewVerdicts()
	one := checkWith(t, st, renderFiles(t, env, map[string]string{"envs/x/app.yaml": reuseDeployment}), vs)
	if n := len(byRule(one, "envwide.deny")); n != 0 {
		t.Fatalf("one object: %s", dump(one))
	}
	two := checkWith(t, st, renderFiles(t, env, map[string]string{"envs/x/app.yaml": reuseDeployment,
		"envs/x/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: shop\n"}), vs)
	if got := byRule(two, "envwide.deny"); len(got) != 1 || got[0].Message != "2 objects" {
		t.Errorf("two objects: %s", dump(two))
	}
}

// TestGatekeeperInventoryNotShared: a template reading data.inventory
// judges the same object differently when the rest of the environment
// differs, with a shared store.
func TestGatekeeperInventoryNotShared(t *testing.T) {
	tmpl := `apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata:
  name: k8suniqueapp
spec:
  crd:
    spec:
      names:
        kind: K8sUniqueApp
  targets:
    - target: admission.k8s.gatekeeper.sh
      rego: |
        package k8suniqueapp

        violation[{"msg": msg}] {
          other := data.inventory.namespace[ns][_]["ConfigMap"][name]
          name == input.review.object.metadata.name
          msg := sprintf("a ConfigMap %v exists in %v", [name, ns])
        }
---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sUniqueApp
metadata:
  name: unique
spec:
  match:
    kinds:
      - apiGroups: ["apps"]
        kinds: ["Deployment"]
`
	src := source.NewMem("base", map[string]string{"policy/unique.yaml": tmpl, "gate.yaml": "apiVersion: gate/v1\npolicies:\n  builtin: false\n"})
	st := mustLoad(t, src, mustConfig(t, src), testOpts())
	env := checks.Env{Name: "x", Path: "envs/x", Kind: render.KindPlain}
	vs := engine.NewVerdicts()
	with := checkWith(t, st, renderFiles(t, env, map[string]string{"envs/x/app.yaml": reuseDeployment,
		"envs/x/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n  namespace: shop\n"}), vs)
	if len(byRule(with, "K8sUniqueApp/unique")) != 1 {
		t.Fatalf("with the ConfigMap: %s", dump(with))
	}
	without := checkWith(t, st, renderFiles(t, env, map[string]string{"envs/x/app.yaml": reuseDeployment}), vs)
	if len(byRule(without, "K8sUniqueApp/unique")) != 0 {
		t.Errorf("without the ConfigMap, judged with the other inventory: %s", dump(without))
	}
}

// BenchmarkBaseAndHead1k checks a head and a base of 1,000 equal objects
// with the built-in library, as a pull request does: "fresh" judges both,
// "shared" gives the base the head's verdicts through one store.
func BenchmarkBaseAndHead1k(b *testing.B) {
	head, base := syntheticEnv(1000), syntheticEnv(1000)
	cfg := &config.Config{Policies: config.Policies{RequiredLabels: []string{"app.kubernetes.io/name"}}}
	st, finds := Load(context.Background(), nil, cfg, Options{})
	if len(finds) > 0 {
		b.Fatal(finds)
	}
	for _, shared := range []bool{false, true} {
		name := map[bool]string{false: "fresh", true: "shared"}[shared]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var vs *engine.Verdicts
				if shared {
					vs = engine.NewVerdicts()
				}
				h, _ := st.Check(context.Background(), &engine.Input{Env: head.Env, Head: head, Verdicts: vs})
				bs, _ := st.Check(context.Background(), &engine.Input{Env: base.Env, Head: base, Verdicts: vs})
				if len(h) != len(bs) {
					b.Fatalf("head %d findings, base %d", len(h), len(bs))
				}
			}
		})
	}
}

// hashingSource is a trusted source that knows its files' content hashes,
// as a git tree does, and counts what is read.
type hashingSource struct {
	*source.Mem
	reads map[string]int
}

func (h *hashingSource) ReadFile(name string) ([]byte, error) {
	h.reads[name]++
	return h.Mem.ReadFile(name)
}

// Resolve says envs/x/cm.yaml is a symlink to envs/x/link-target.yaml.
func (h *hashingSource) Resolve(name string) (string, error) {
	if name == "envs/x/cm.yaml" {
		return "envs/x/link-target.yaml", nil
	}
	return name, nil
}

func (h *hashingSource) Hash(name string) (string, bool) {
	b, err := h.Mem.ReadFile(name)
	if err != nil {
		return "", false
	}
	return source.BlobHash(b), true
}

// TestRepoFilesWithoutGatekeeperAreNotReadAgain: the rendered files a
// check learnt hold no Gatekeeper document are not read from the trusted
// tree again by a later stage with the same store; the file holding a
// constraint still is, and so is a file reached through a symlink (its
// tree entry's hash is the link's, not the content's). The findings are
// the same.
func TestRepoFilesWithoutGatekeeperAreNotReadAgain(t *testing.T) {
	local := strings.Replace(constraints, "workloads-have-team", "local-team", 1)
	files := map[string]string{
		"gate.yaml":          "apiVersion: gate/v1\npolicies:\n  builtin: false\n",
		"policy/labels.yaml": requiredLabelsTemplate,
		"envs/x/app.yaml":    reuseDeployment,
		"envs/x/cm.yaml":     "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: shop\n",
		"envs/x/gk.yaml":     local,
	}
	src := &hashingSource{Mem: source.NewMem("base", files), reads: map[string]int{}}
	env := checks.Env{Name: "x", Path: "envs/x", Kind: render.KindPlain}
	res := renderFiles(t, env, files)
	vs := engine.NewVerdicts()
	check := func() []checks.Finding {
		st := mustLoad(t, src, mustConfig(t, src.Mem), testOpts())
		clear(src.reads)
		return checkWith(t, st, res, vs)
	}
	first := check()
	if len(byRule(first, "K8sRequiredLabels/local-team")) == 0 {
		t.Fatalf("the rendered constraint did not apply: %s", dump(first))
	}
	second := check()
	if dump(second) != dump(first) {
		t.Errorf("with what the first check learnt:%s\nwant%s", dump(second), dump(first))
	}
	if src.reads["envs/x/app.yaml"] != 0 || src.reads["envs/x/cm.yaml"] != 1 || src.reads["envs/x/gk.yaml"] != 1 {
		t.Errorf("reads of the trusted tree %v: want envs/x/gk.yaml and the symlink envs/x/cm.yaml", src.reads)
	}
}
