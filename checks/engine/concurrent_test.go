package engine_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/engine"
	"github.com/gate-ops/gate/checks/render"
	"github.com/gate-ops/gate/checks/source"
)

// gaugeStage records how many environments it checks at once.
type gaugeStage struct {
	safe      bool
	mu        sync.Mutex
	now, peak int
	calls     atomic.Int64
}

func (s *gaugeStage) Name() string          { return "gauge" }
func (s *gaugeStage) ConcurrencySafe() bool { return s.safe }
func (s *gaugeStage) Check(_ context.Context, in *engine.Input) ([]checks.Finding, error) {
	s.calls.Add(1)
	s.mu.Lock()
	s.now++
	s.peak = max(s.peak, s.now)
	s.mu.Unlock()
	time.Sleep(20 * time.Millisecond)
	s.mu.Lock()
	s.now--
	s.mu.Unlock()
	return []checks.Finding{{Check: "gauge", RuleID: "gauge/env", Severity: checks.SeverityNotice, Env: in.Env.Name, Message: in.Env.Name}}, nil
}

// TestEnvironmentsCheckInParallelOnlyWhenStagesAllowIt: with stages that
// declare themselves concurrency-safe, environments are checked at once
// (up to the parallelism) and the report keeps their order; one stage that
// does not declare it keeps the run sequential.
func TestEnvironmentsCheckInParallelOnlyWhenStagesAllowIt(t *testing.T) {
	files := map[string]string{}
	cfg := &config.Config{}
	for i := range 6 {
		name := fmt.Sprintf("env%d", i)
		files[name+"/kustomization.yaml"] = "resources: [cm.yaml]\n"
		files[name+"/cm.yaml"] = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\n"
		cfg.Environments = append(cfg.Environments, config.Env{Name: name, Path: name})
	}
	src := source.NewMem("mem", files)
	for _, tc := range []struct {
		stages            []*gaugeStage
		minPeak, wantPeak int
	}{
		{[]*gaugeStage{{safe: true}}, 2, 3},
		{[]*gaugeStage{{safe: true}, {safe: false}}, 1, 1},
	} {
		var stages []engine.Stage
		for _, s := range tc.stages {
			stages = append(stages, s)
		}
		rep, err := engine.Run(context.Background(), &engine.Request{Head: src, Config: cfg, Stages: stages, Render: render.Options{Parallelism: 3}})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range tc.stages {
			if s.peak < tc.minPeak || s.peak > tc.wantPeak || s.calls.Load() != 6 {
				t.Errorf("safe=%v: %d calls, peak concurrency %d, want 6 calls and %d to %d at once", s.safe, s.calls.Load(), s.peak, tc.minPeak, tc.wantPeak)
			}
		}
		for i, er := range rep.Envs {
			if want := fmt.Sprintf("env%d", i); er.Env.Name != want || len(er.Findings) == 0 || er.Findings[0].Message != want {
				t.Errorf("report env %d = %s %v, want %s with its own findings", i, er.Env.Name, er.Findings, want)
			}
		}
	}
}
