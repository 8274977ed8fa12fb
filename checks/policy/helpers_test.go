package policy

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/engine"
	"github.com/gate-ops/gate/checks/render"
	"github.com/gate-ops/gate/checks/source"
)

// fixedNow is the clock waivers are judged against in tests.
var fixedNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func testOpts() Options {
	return Options{Now: func() time.Time { return fixedNow }, Timeout: 2 * time.Second}
}

// renderAll renders every environment of src.
func renderAll(t testing.TB, src source.Source, cfg *config.Config) []*render.Result {
	t.Helper()
	envs, finds := render.Discover(src, cfg)
	if len(finds) > 0 {
		t.Fatalf("discover: %v", finds)
	}
	rs := render.New(render.Options{}).RenderAll(context.Background(), src, envs)
	for _, r := range rs {
		for _, f := range r.Findings {
			if f.Severity == checks.SeverityError {
				t.Fatalf("render %s: %v", r.Env.Name, f)
			}
		}
	}
	return rs
}

func loadStage(t testing.TB, src source.Source, cfg *config.Config, opts Options) (*Stage, []checks.Finding) {
	t.Helper()
	st, finds := Load(context.Background(), src, cfg, opts)
	return st, finds
}

func mustLoad(t testing.TB, src source.Source, cfg *config.Config, opts Options) *Stage {
	t.Helper()
	st, finds := loadStage(t, src, cfg, opts)
	if len(finds) > 0 {
		t.Fatalf("load findings: %s", dump(finds))
	}
	return st
}

func check(t testing.TB, st *Stage, res *render.Result, base *render.Result) []checks.Finding {
	t.Helper()
	fs, err := st.Check(context.Background(), &engine.Input{Env: res.Env, Head: res, Base: base, PullRequest: base != nil})
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

func dump(fs []checks.Finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString("\n  ")
		b.WriteString(f.String())
		if f.Waived != "" {
			b.WriteString(" [waived: " + f.Waived + "]")
		}
	}
	return b.String()
}

func byRule(fs []checks.Finding, rule string) []checks.Finding {
	var out []checks.Finding
	for _, f := range fs {
		if f.RuleID == rule {
			out = append(out, f)
		}
	}
	return out
}

func parseConfig(t testing.TB, s string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("gate.yaml", []byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
