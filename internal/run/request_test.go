package run

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/source"
)

func TestFailOn(t *testing.T) {
	warnNew := &config.Config{Report: config.ReportConfig{FailOn: config.FailOn{Severity: "warning", Scope: checks.ScopeAll}}}
	for _, tc := range []struct {
		name       string
		cfg        *config.Config
		sev, scope string
		want       checks.Severity
		wantScope  string
		wantErr    string
	}{
		{name: "defaults", want: checks.SeverityError},
		{name: "gate.yaml", cfg: warnNew, want: checks.SeverityWarning, wantScope: checks.ScopeAll},
		{name: "flags win", cfg: warnNew, sev: "notice", scope: "new", want: checks.SeverityNotice, wantScope: checks.ScopeNew},
		{name: "bad flag", sev: "fatal", wantErr: "--fail-on"},
		{name: "bad scope flag", scope: "most", wantErr: "--fail-on-scope"},
		{name: "bad gate.yaml", cfg: &config.Config{Report: config.ReportConfig{FailOn: config.FailOn{Severity: "fatal"}}}, wantErr: "gate.yaml report.failOn"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, scope, err := FailOn(tc.cfg, tc.sev, tc.scope)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one naming %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want || scope != tc.wantScope {
				t.Errorf("FailOn = %v, %q, %v; want %v, %q", got, scope, err, tc.want, tc.wantScope)
			}
		})
	}
}

// TestRequestStagesPerMode: every front door asks for a mode, and the
// mode alone decides which stages run: check all, validate the schema,
// diff and render none (diff only the live stage when asked).
func TestRequestStagesPerMode(t *testing.T) {
	src := source.NewMem("head", map[string]string{
		"envs/dev/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: x}\n",
	})
	cfg, _, err := config.Load(src, "")
	if err != nil {
		t.Fatal(err)
	}
	opened := &Opened{Head: src, Trusted: src, Config: cfg}
	for _, tc := range []struct {
		mode   Mode
		stages Stages
		want   []string
	}{
		{Check, Stages{}, []string{"schema", "policy"}},
		{Check, Stages{NoPolicy: true}, []string{"schema"}},
		{Validate, Stages{}, []string{"schema"}},
		{Diff, Stages{}, nil},
		{Diff, Stages{Live: Live{Enabled: true, Context: "ctx"}}, []string{"live"}},
		{Render, Stages{}, nil},
	} {
		req, err := Request(context.Background(), Intent{Mode: tc.mode, Opened: opened, Stages: tc.stages})
		if err != nil {
			t.Fatalf("mode %d: %v", tc.mode, err)
		}
		var got []string
		for _, s := range req.Stages {
			got = append(got, s.Name())
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("mode %d, %+v: stages %v, want %v", tc.mode, tc.stages, got, tc.want)
		}
		if req.FailOn != checks.SeverityError || req.Head != src {
			t.Errorf("mode %d: request %+v", tc.mode, req)
		}
	}
}

// TestBaselineOnlyWithoutABase: the baseline file is the base's stand-in,
// read only when a check has no base revision; a path out of the repo is
// the caller's mistake.
func TestBaselineOnlyWithoutABase(t *testing.T) {
	head := source.NewMem("head", map[string]string{
		"envs/dev/cm.yaml":   "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: x}\n",
		"gate-baseline.json": `{"version": 1, "findings": []}`,
	})
	cfg, _, err := config.Load(head, "")
	if err != nil {
		t.Fatal(err)
	}
	req, err := Request(context.Background(), Intent{Mode: Check, Opened: &Opened{Head: head, Trusted: head, Config: cfg}, Stages: Stages{NoSchema: true, NoPolicy: true}})
	if err != nil {
		t.Fatal(err)
	}
	if req.BaselineName != "gate-baseline.json" {
		t.Errorf("baseline not read without a base: %q", req.BaselineName)
	}
	req, err = Request(context.Background(), Intent{Mode: Check, Opened: &Opened{Head: head, Base: head, Trusted: head, Config: cfg}, Stages: Stages{NoSchema: true, NoPolicy: true}})
	if err != nil {
		t.Fatal(err)
	}
	if req.BaselineName != "" {
		t.Errorf("baseline read although the run has a base: %q", req.BaselineName)
	}
	_, err = Request(context.Background(), Intent{Mode: Check, Opened: &Opened{Head: head, Trusted: head, Config: cfg}, Baseline: "../outside.json"})
	if err == nil || !strings.Contains(err.Error(), "name a path inside the repo") {
		t.Errorf("a baseline path out of the repo: %v, want it refused", err)
	}
}
