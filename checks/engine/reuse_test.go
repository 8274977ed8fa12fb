package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/engine"
	"github.com/gate-ops/gate/checks/policy"
	"github.com/gate-ops/gate/checks/render"
	"github.com/gate-ops/gate/checks/schema"
	"github.com/gate-ops/gate/checks/source"
)

const reuseApp = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: "three"
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: nginx:latest
`

// reuseSides are a base and a head whose Deployment is the same object at
// other lines (the head adds a comment above it) and whose ConfigMap
// differs.
func reuseSides() (base, head *source.Mem) {
	gate := "apiVersion: gate/v1\nenvironments:\n  - name: prod\n    path: envs/prod\n"
	cm := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: shop\ndata:\n  k: "
	base = source.NewMem("base", map[string]string{"gate.yaml": gate, "envs/prod/app.yaml": reuseApp, "envs/prod/cm.yaml": cm + "a\n"})
	head = source.NewMem("head", map[string]string{"gate.yaml": gate, "envs/prod/app.yaml": "# moved\n# down\n# three lines\n" + reuseApp, "envs/prod/cm.yaml": cm + "b\n"})
	return base, head
}

// TestReusedVerdictsLandOnEachSidesLines: with one verdict store for both
// sides (the head checked first, as the engine does), every finding of
// the schema and policy stages is the one a check without reuse makes, on
// that side's own lines; the Deployment's verdicts are reused.
func TestReusedVerdictsLandOnEachSidesLines(t *testing.T) {
	base, head := reuseSides()
	cfg, _, err := config.Load(base, "")
	if err != nil {
		t.Fatal(err)
	}
	st, _, err := schema.New(schema.Options{Config: cfg.Schemas, Source: base})
	if err != nil {
		t.Fatal(err)
	}
	ps, pfinds := policy.Load(context.Background(), base, cfg, policy.Options{DefaultKubernetesVersion: schema.DefaultKubernetesVersion()})
	if len(pfinds) > 0 {
		t.Fatalf("policy stage: %v", pfinds)
	}
	env := checks.Env{Name: "prod", Path: "envs/prod", Kind: render.KindPlain}
	sides := []*render.Result{
		render.New(render.Options{}).Render(context.Background(), head, env),
		render.New(render.Options{}).Render(context.Background(), base, env),
	}
	check := func(res *render.Result, vs *engine.Verdicts) []checks.Finding {
		var out []checks.Finding
		for _, s := range []engine.Stage{st, ps} {
			fs, err := s.Check(context.Background(), &engine.Input{Env: env, Head: res, All: []*render.Result{res}, Verdicts: vs})
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, fs...)
		}
		return out
	}
	vs := engine.NewVerdicts()
	var lines [2]string
	for i, res := range sides {
		want := check(res, nil)
		got := check(res, vs)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("side %d with reuse:\n%s\nwithout:\n%s", i, findingLines(got), findingLines(want))
		}
		lines[i] = findingLines(got)
	}
	if vs.Hits() == 0 {
		t.Errorf("nothing reused")
	}
	if lines[0] == lines[1] || !strings.Contains(lines[0], "spec.replicas") || !strings.Contains(lines[0], "image") {
		t.Errorf("want schema and policy findings on other lines at head and base:\nhead %s\nbase %s", lines[0], lines[1])
	}
}

func findingLines(fs []checks.Finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(f.Origin.String() + " " + f.RuleID + " " + f.Path + "\n")
	}
	return b.String()
}

// reuseRun checks reuseSides with the schema and policy stages, with a
// render cache in dir ("" for none), and returns the JSON report without
// durations.
func reuseRun(t *testing.T, dir string) string {
	t.Helper()
	base, head := reuseSides()
	cfg, _, err := config.Load(base, "")
	if err != nil {
		t.Fatal(err)
	}
	st, _, err := schema.New(schema.Options{Config: cfg.Schemas, Source: base})
	if err != nil {
		t.Fatal(err)
	}
	ps, _ := policy.Load(context.Background(), base, cfg, policy.Options{DefaultKubernetesVersion: schema.DefaultKubernetesVersion()})
	req := &engine.Request{Head: head, Base: base, Config: cfg, Stages: []engine.Stage{st, ps}}
	if dir != "" {
		c, err := render.OpenCache(dir, "test-build")
		if err != nil {
			t.Fatal(err)
		}
		req.Render.Cache = c
	}
	rep, err := engine.Run(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	rep.Duration = 0
	for i := range rep.Envs {
		rep.Envs[i].Duration = 0
	}
	b, err := json.MarshalIndent(rep, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestVerdictCacheBetweenRuns: verdicts kept under the cache directory give
// the report a run without them gives; a pack changed on disk is refused
// and its verdicts computed again (same report). A pack rewritten
// consistently (checksum too) is read: the packs are what a warm run
// uses, trusted like the render cache's entries in their private
// directory.
func TestVerdictCacheBetweenRuns(t *testing.T) {
	want := reuseRun(t, "")
	dir := t.TempDir()
	if got := reuseRun(t, dir); got != want {
		t.Fatalf("cold run with a cache:\n%s\nwant\n%s", got, want)
	}
	packs, _ := filepath.Glob(filepath.Join(dir, "verdicts", "*", "*.json"))
	if len(packs) == 0 {
		t.Fatal("no verdict packs written")
	}
	if got := reuseRun(t, dir); got != want {
		t.Fatalf("warm run:\n%s\nwant\n%s", got, want)
	}
	rewrite := func(resum bool) {
		for _, p := range packs {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			var pack map[string]any
			if err := json.Unmarshal(b, &pack); err != nil {
				t.Fatal(err)
			}
			b = bytes.ReplaceAll(b, []byte("nginx:latest"), []byte("nginx:lat3st"))
			if resum {
				b = engine.ResumPackForTest(b)
			}
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	rewrite(false)
	if got := reuseRun(t, dir); got != want {
		t.Fatalf("tampered packs changed the report:\n%s\nwant\n%s", got, want)
	}
	rewrite(true)
	if got := reuseRun(t, dir); got == want || !strings.Contains(got, "nginx:lat3st") {
		t.Errorf("consistently rewritten packs not read: the warm run does not use them")
	}
}

// verdictCounter judges a resource by its name through the run's verdict
// store, as the schema and policy stages do, and counts what it judged.
type verdictCounter struct{ judged *int }

func (s verdictCounter) Name() string     { return "count" }
func (s verdictCounter) RenderOnly() bool { return true }

func (s verdictCounter) Check(_ context.Context, in *engine.Input) ([]checks.Finding, error) {
	var keys [][32]byte
	for _, r := range in.Head.Resources {
		d, _ := in.Verdicts.ResourceDigest(r)
		keys = append(keys, engine.VerdictKey([]byte("count/1"), d[:]))
	}
	in.Verdicts.Prefetch(keys)
	for i, r := range in.Head.Resources {
		if _, ok := in.Verdicts.Get(keys[i]); !ok {
			*s.judged++
			in.Verdicts.Put(keys[i], []byte(`"`+r.ID.Name+`"`))
		}
	}
	in.Verdicts.Persist(keys)
	return nil, nil
}

// TestWarmBaseServesANewHead: a pull request pushed again (a new head, the
// same base) judges only the resources the push changed: the base's
// verdicts come from the cache directory and serve the head's equal ones.
func TestWarmBaseServesANewHead(t *testing.T) {
	gate := "apiVersion: gate/v1\nenvironments:\n  - name: prod\n    path: envs/prod\n"
	cm := func(name, v string) string {
		return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\n  namespace: shop\ndata:\n  k: " + v + "\n"
	}
	files := func(b string) map[string]string {
		return map[string]string{"gate.yaml": gate, "envs/prod/a.yaml": cm("a", "1"), "envs/prod/b.yaml": cm("b", "1"), "envs/prod/c.yaml": cm("c", b)}
	}
	cache, err := render.OpenCache(t.TempDir(), "test-build")
	if err != nil {
		t.Fatal(err)
	}
	base := source.NewMem("base", files("1"))
	run := func(head string) int {
		judged := 0
		req := &engine.Request{Head: source.NewMem("head", files(head)), Base: base, Stages: []engine.Stage{verdictCounter{&judged}}}
		req.Render.Cache = cache
		if _, err := engine.Run(context.Background(), req); err != nil {
			t.Fatal(err)
		}
		return judged
	}
	if n := run("2"); n != 4 {
		t.Fatalf("first push judged %d resources, want 4 (3 of the base, the head's changed one)", n)
	}
	if n := run("3"); n != 1 {
		t.Errorf("second push judged %d resources, want 1 (the one it changed)", n)
	}
	if n := run("3"); n != 0 {
		t.Errorf("the same push again judged %d resources, want 0", n)
	}
}
