package engine_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/engine"
	"github.com/gate-ops/gate/checks/source"
	"github.com/gate-ops/gate/internal/gitsrc"
	"github.com/gate-ops/gate/internal/testing/enginetest"
)

var update = flag.Bool("update", false, "rewrite golden files")

func runPair(t *testing.T, p *enginetest.Pair, baseRev string, mergeBase bool, stages ...engine.Stage) *checks.Report {
	t.Helper()
	repo, err := gitsrc.Open(p.Dir)
	if err != nil {
		t.Fatal(err)
	}
	c, err := gitsrc.ResolveCommit(repo, baseRev)
	if err != nil {
		t.Fatal(err)
	}
	if mergeBase {
		if c, err = gitsrc.MergeBase(repo, baseRev, "HEAD"); err != nil {
			t.Fatal(err)
		}
	}
	base, err := gitsrc.FromCommit(repo, c, 0)
	if err != nil {
		t.Fatal(err)
	}
	head, err := source.OpenDir(p.Dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := config.Load(base, "")
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	rep, err := engine.Run(context.Background(), &engine.Request{Head: head, Base: base, Config: cfg, Stages: stages,
		Progress: func(m string) { msgs = append(msgs, m) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) < 2*len(rep.Envs) {
		t.Errorf("progress: %q, want a render and a check message per environment", msgs)
	}
	return rep
}

func envByName(t *testing.T, rep *checks.Report, name string) *checks.EnvReport {
	t.Helper()
	for i := range rep.Envs {
		if rep.Envs[i].Env.Name == name {
			return &rep.Envs[i]
		}
	}
	t.Fatalf("no env %s", name)
	return nil
}

func changeList(d *checks.EnvDiff) []string {
	var out []string
	for _, c := range d.Changes {
		out = append(out, c.Action+" "+c.ID.String())
	}
	return out
}

func TestRunPullRequest(t *testing.T) {
	p := enginetest.NewPair(t)
	rep := runPair(t, p, "main", true, enginetest.RuleStage{})
	if rep.BaseRev != p.Base {
		t.Errorf("base = %s, want the merge-base %s", rep.BaseRev, p.Base)
	}

	staging := envByName(t, rep, "staging")
	if staging.Status != checks.EnvUntouched || staging.Diff == nil || len(staging.Diff.Changes) != 0 || len(staging.Because) != 0 {
		t.Errorf("staging = %+v, want untouched (main's later staging commit is not part of the change)", staging)
	}

	dev := envByName(t, rep, "dev")
	if got, want := strings.Join(changeList(dev.Diff), "\n"), "changed ConfigMap/shop-dev/shop-config-"; !strings.HasPrefix(got, want) || len(dev.Diff.Changes) != 2 {
		t.Errorf("dev changes:\n%s\nwant the renamed generated ConfigMap and the Deployment that mounts it", got)
	}
	if strings.Join(dev.Because, ",") != "overlays/dev/kustomization.yaml" {
		t.Errorf("dev because = %v", dev.Because)
	}
	var renamed bool
	for _, f := range dev.Diff.Changes[0].Fields {
		if f.Path == "metadata.name" && f.Old != f.New {
			renamed = true
		}
	}
	if !renamed {
		t.Errorf("dev ConfigMap change lacks the metadata.name rename: %+v", dev.Diff.Changes[0].Fields)
	}

	prod := envByName(t, rep, "prod")
	want := []string{
		"added ConfigMap/shop-prod/feature-flags",
		"changed Deployment/shop-prod/shop",
		"changed Secret/shop-prod/shop-api",
		"removed Service/shop-prod/shop-cache",
	}
	if got := changeList(prod.Diff); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("prod changes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	wantFiles := []string{"overlays/prod/charts/cache/templates/service.yaml", "overlays/prod/deployment-prod.yaml",
		"overlays/prod/feature-flags.yaml", "overlays/prod/kustomization.yaml", "overlays/prod/secret.yaml"}
	if strings.Join(prod.Because, "\n") != strings.Join(wantFiles, "\n") || strings.Join(prod.Diff.SourceFiles, "\n") != strings.Join(wantFiles, "\n") {
		t.Errorf("prod source files = %v, want %v", prod.Because, wantFiles)
	}
	if prod.Diff.ByKind["ConfigMap"] != 1 || prod.Diff.ByKind["Secret"] != 1 || prod.Diff.ByKind["Service"] != 1 || prod.Diff.ByKind["Deployment"] != 1 {
		t.Errorf("prod by kind = %v", prod.Diff.ByKind)
	}
	for _, c := range prod.Diff.Changes {
		switch c.ID.Kind {
		case "Deployment":
			if len(c.Fields) != 1 || c.Fields[0].Path != "spec.replicas" || c.Fields[0].Old != "3" || c.Fields[0].New != "5" {
				t.Errorf("deployment fields = %+v", c.Fields)
			}
			if c.Origin.File != "overlays/prod/deployment-prod.yaml" || c.Origin.Line != 6 {
				t.Errorf("deployment change origin = %s, want the replicas line of the patch", c.Origin)
			}
		case "Secret":
			var paths []string
			for _, f := range c.Fields {
				paths = append(paths, f.Path)
			}
			if strings.Join(paths, ",") != "data.api-key,stringData.webhook-token" {
				t.Errorf("secret fields = %v", paths)
			}
		}
	}

	// No Secret value anywhere, although RuleStage quotes them.
	b, _ := json.Marshal(rep)
	assertNoCanary(t, string(b))
	var echoes int
	for _, f := range prod.Findings {
		if f.RuleID == "test/secret-echo" {
			echoes++
			if !strings.Contains(f.Message, "<redacted sha256:") && !strings.Contains(f.Message, "c2hvcA==") {
				t.Errorf("secret echo not scrubbed: %s", f.Message)
			}
		}
	}
	if echoes != 2 {
		t.Errorf("secret-echo findings = %d, want 2 (kept, scrubbed)", echoes)
	}

	// Golden: every environment's diff.
	diffs := map[string]*checks.EnvDiff{}
	for _, e := range rep.Envs {
		diffs[e.Env.Name] = e.Diff
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(diffs); err != nil {
		t.Fatal(err)
	}
	golden(t, "pair.json", buf.Bytes())
}

func assertNoCanary(t *testing.T, out string) {
	t.Helper()
	for _, c := range []string{enginetest.BaseCanary, enginetest.HeadCanary} {
		for _, form := range []string{c, base64.StdEncoding.EncodeToString([]byte(c)), c[:12]} {
			if strings.Contains(out, form) {
				t.Errorf("output contains secret value %q", form)
			}
		}
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("..", "..", "testdata", "golden", "diff", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if string(want) != string(got) {
		t.Errorf("%s differs from the golden file (go test ./checks/engine -update to accept):\n%s", path, firstDiff(string(want), string(got)))
	}
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return "line " + itoa(i+1) + ":\n- " + x + "\n+ " + y
		}
	}
	return ""
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestRunAgainstBranchTipWithoutMergeBase(t *testing.T) {
	p := enginetest.NewPair(t)
	rep := runPair(t, p, "main", false)
	staging := envByName(t, rep, "staging")
	if got := changeList(staging.Diff); len(got) != 1 || got[0] != "changed Deployment/shop-staging/staging-shop" {
		t.Fatalf("staging changes = %v, want the Deployment (main has 4 replicas, the branch 2)", got)
	}
	f := staging.Diff.Changes[0].Fields
	if len(f) != 1 || f[0].Old != "4" || f[0].New != "2" {
		t.Errorf("staging fields = %+v", f)
	}
	if strings.Join(staging.Because, ",") != "overlays/staging/replicas-json6902.yaml" {
		t.Errorf("staging because = %v", staging.Because)
	}
}

type stageFunc struct {
	name string
	fn   func() ([]checks.Finding, error)
}

func (s stageFunc) Name() string { return s.name }
func (s stageFunc) Check(context.Context, *engine.Input) ([]checks.Finding, error) {
	return s.fn()
}

func TestStageFailuresAreFindings(t *testing.T) {
	src := source.NewMem("mem", map[string]string{
		"app/kustomization.yaml": "resources: [cm.yaml]\n",
		"app/cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
	})
	cfg := &config.Config{Environments: []config.Env{{Name: "app", Path: "app"}}}
	rep, err := engine.Run(context.Background(), &engine.Request{Head: src, Config: cfg, Stages: []engine.Stage{
		stageFunc{"broken", func() ([]checks.Finding, error) { return nil, errors.New("schema bundle missing") }},
		stageFunc{"crashy", func() ([]checks.Finding, error) { panic("nil map") }},
		stageFunc{"fine", func() ([]checks.Finding, error) {
			return []checks.Finding{{Check: "fine", RuleID: "fine/x", Severity: checks.SeverityWarning, Env: "app", Message: "kept"}}, nil
		}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var rules []string
	for _, f := range rep.Envs[0].Findings {
		rules = append(rules, f.RuleID+":"+f.Severity.String())
	}
	want := "fine/x:warning,broken/stage-error:error,crashy/stage-error:error"
	if strings.Join(rules, ",") != want {
		t.Errorf("findings = %v, want %s", rules, want)
	}
	if rep.Pass {
		t.Error("a stage that cannot run must fail the gate")
	}
	// --fail-on warning: the warning alone fails; error threshold with only the warning passes.
	rep, _ = engine.Run(context.Background(), &engine.Request{Head: src, Config: cfg, FailOn: checks.SeverityWarning, Stages: []engine.Stage{
		stageFunc{"fine", func() ([]checks.Finding, error) {
			return []checks.Finding{{Check: "fine", RuleID: "fine/x", Severity: checks.SeverityWarning, Env: "app", Message: "kept"}}, nil
		}},
	}})
	if rep.Pass || rep.FailOn != checks.SeverityWarning {
		t.Errorf("fail-on warning: pass=%v failOn=%s", rep.Pass, rep.FailOn)
	}
}

func TestNewEnvironmentHasNoBase(t *testing.T) {
	files := map[string]string{
		"old/kustomization.yaml": "resources: [cm.yaml]\n",
		"old/cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
	}
	base := source.NewMem("base", files)
	files["new/kustomization.yaml"] = "resources: [cm.yaml]\n"
	files["new/cm.yaml"] = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y\n"
	head := source.NewMem("head", files)
	cfg := &config.Config{Environments: []config.Env{{Name: "old", Path: "old"}, {Name: "new", Path: "new"}}}
	rep, err := engine.Run(context.Background(), &engine.Request{Head: head, Base: base, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	nw := envByName(t, rep, "new")
	if len(nw.Findings) != 0 || strings.Join(changeList(nw.Diff), ",") != "added ConfigMap/y" {
		t.Errorf("new env: findings %v, changes %v", nw.Findings, changeList(nw.Diff))
	}
	if strings.Join(nw.Because, ",") != "new/cm.yaml,new/kustomization.yaml" {
		t.Errorf("new env because = %v", nw.Because)
	}
	if old := envByName(t, rep, "old"); old.Status != checks.EnvUntouched {
		t.Errorf("old env status = %s", old.Status)
	}
}

func TestBaseThatDoesNotRender(t *testing.T) {
	base := source.NewMem("base", map[string]string{"app/kustomization.yaml": "resources: [missing.yaml]\n"})
	head := source.NewMem("head", map[string]string{
		"app/kustomization.yaml": "resources: [cm.yaml]\n",
		"app/cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
	})
	cfg := &config.Config{Environments: []config.Env{{Name: "app", Path: "app"}}}
	rep, err := engine.Run(context.Background(), &engine.Request{Head: head, Base: base, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	e := rep.Envs[0]
	if e.Diff != nil || len(e.Findings) != 1 || e.Findings[0].RuleID != "diff/base-render-failed" || e.Findings[0].Severity != checks.SeverityNotice {
		t.Errorf("env = %+v, want no diff and a notice that the base does not render", e)
	}
	if !rep.Pass {
		t.Error("a broken base must not fail the change that fixes it")
	}
}
