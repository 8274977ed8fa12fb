package schema

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/render"
	"github.com/gate-ops/gate/checks/source"
)

var update = flag.Bool("update", false, "rewrite golden files")

// checkRepo renders every environment of a repo under testdata and runs a
// stage built from its gate.yaml, as `gate validate --all` does.
func checkRepo(t *testing.T, dir string) ([]checks.Finding, []*render.Result) {
	t.Helper()
	src, err := source.OpenDir(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := config.Load(src, "")
	if err != nil {
		t.Fatal(err)
	}
	envs, finds := render.Discover(src, cfg)
	if len(finds) > 0 {
		t.Fatalf("discover: %v", finds)
	}
	results := render.New(render.Options{}).RenderAll(context.Background(), src, envs)
	for _, r := range results {
		if len(r.Findings) > 0 {
			t.Fatalf("render %s: %v", r.Env.Name, r.Findings)
		}
	}
	st, sfinds, err := New(Options{Config: cfg.Schemas, Source: src})
	if err != nil {
		t.Fatal(err)
	}
	got := append(sfinds, check(t, st, results...)...)
	checks.SortFindings(got)
	return got, results
}

func golden(t *testing.T, name string, got []checks.Finding) {
	t.Helper()
	var b strings.Builder
	for _, f := range got {
		b.WriteString("[" + f.Env + "] " + f.String() + "\n")
		if f.Path != "" {
			b.WriteString("    path: " + f.Path + "\n")
		}
	}
	file := filepath.Join("../../testdata/schema/golden", name)
	if *update {
		if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test ./checks/schema -update)", err)
	}
	if b.String() != string(want) {
		t.Errorf("findings differ from %s (rerun with -update if intended)\n--- got\n%s--- want\n%s", file, b.String(), want)
	}
}

// TestCRDRepo: a repo whose CRD ships in the rendered output (and one more
// under schemas.paths) and whose custom resources break the CRD schemas,
// through a kustomize patch. Each error names the field path and lands on
// the patch line that set the field.
func TestCRDRepo(t *testing.T) {
	got, _ := checkRepo(t, "../../testdata/schema/crd-repo")
	golden(t, "crd-repo.txt", got)

	type key struct{ env, rule, path, file string }
	want := map[key]int{
		{"dev", RuleInvalid, "spec.retentionDays", "overlays/dev/backup-patch.yaml"}: 6,
		{"dev", RuleInvalid, "spec.compress", "overlays/dev/backup-patch.yaml"}:      7,
		{"dev", RuleInvalid, "spec.target.kind", "overlays/dev/backup-patch.yaml"}:   9,
		{"prod", RuleDeprecatedAPI, "apiVersion", "overlays/prod/legacy.yaml"}:       1,
		{"prod", RuleInvalid, "spec.size", "overlays/prod/legacy.yaml"}:              52,
		{"prod", RuleMissingSchema, "apiVersion", "overlays/prod/legacy.yaml"}:       40,
	}
	for _, f := range got {
		k := key{f.Env, f.RuleID, f.Path, f.Origin.File}
		if line, ok := want[k]; ok {
			if f.Origin.Line != line {
				t.Errorf("%s: line %d, want %d", f, f.Origin.Line, line)
			}
			delete(want, k)
		}
		if f.RuleID == RuleMissingSchema && f.Severity != checks.SeverityError {
			t.Errorf("%s: gate.yaml sets missingSchema: error", f)
		}
	}
	for k := range want {
		t.Errorf("missing finding %+v", k)
	}
	// The Backup in base is valid everywhere: int-or-string, nullable,
	// preserve-unknown-fields and an embedded resource all pass.
	for _, f := range got {
		if f.Origin.File == "base/backup.yaml" || f.Origin.File == "crds/backups.ops.example.com.yaml" {
			t.Errorf("unexpected finding on a valid object: %s", f)
		}
	}
}

// TestExampleRepo keeps the bundled example honest: every object passes;
// the SealedSecret, whose CRD the repo does not carry, is reported, not
// skipped.
func TestExampleRepo(t *testing.T) {
	got, results := checkRepo(t, "../../testdata/example")
	if len(got) != 1 || got[0].RuleID != RuleMissingSchema || got[0].Severity != checks.SeverityWarning || got[0].Resource.Kind != "SealedSecret" {
		t.Fatalf("example repo findings:\n%s", join(got))
	}
	probes := 0
	for _, r := range results {
		for _, res := range r.Resources {
			if res.ID.Kind == "Probe" {
				probes++
			}
		}
	}
	if probes == 0 {
		t.Fatal("the example renders no Probe: the CRD path is not exercised")
	}
}
