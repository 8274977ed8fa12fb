package engine_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/engine"
	"github.com/gate-ops/gate/checks/source"
	"github.com/gate-ops/gate/internal/gitsrc"
	"github.com/gate-ops/gate/internal/testing/gittest"
)

// inputStage is a stage that reads a repo directory of its own.
type inputStage struct {
	countingStage
	inputs []string
}

func (s *inputStage) Inputs() []string { return s.inputs }

// TestStagesDeclareInputs: the incremental selection takes the paths that
// affect every environment from the stages (engine.Inputs), not from a list
// of its own: a new stage reading rules/ is one Inputs method away from a
// change to rules/ checking every environment, and without a stage that
// reads policy/, a change there checks none.
func TestStagesDeclareInputs(t *testing.T) {
	r := gittest.New(t)
	r.CopyTree("../../testdata/example")
	base := r.Commit("base")
	r.Write("rules/extra.txt", "x\n")
	r.Write("policy/extra.rego", "package main\n")
	r.Commit("change")
	repo, err := gitsrc.Open(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	bt, err := gitsrc.FromRev(repo, base, 0)
	if err != nil {
		t.Fatal(err)
	}
	head, err := source.OpenDir(r.Dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := config.Load(bt, "")
	if err != nil {
		t.Fatal(err)
	}
	checked := func(st engine.Stage) map[string][]string {
		t.Helper()
		rep, err := engine.Run(context.Background(), &engine.Request{Head: head, Base: bt, Config: cfg, Stages: []engine.Stage{st}, Incremental: true})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string][]string{}
		for _, e := range rep.Envs {
			if e.Status == checks.EnvChecked {
				got[e.Env.Name] = e.Because
			}
		}
		return got
	}
	all := map[string][]string{"dev": {"rules/extra.txt"}, "staging": {"rules/extra.txt"}, "prod": {"rules/extra.txt"}}
	if got := checked(&inputStage{inputs: []string{"rules"}}); !reflect.DeepEqual(got, all) {
		t.Errorf("a stage declaring rules/: checked %v, want %v", got, all)
	}
	if got := checked(&inputStage{inputs: []string{}}); len(got) != 0 {
		t.Errorf("a stage reading only the rendering: checked %v, want none", got)
	}
	// A stage that declares nothing is judged as gate.yaml configures the
	// built-in stages: policy/ affects every environment.
	policyAll := map[string][]string{"dev": {"policy/extra.rego"}, "staging": {"policy/extra.rego"}, "prod": {"policy/extra.rego"}}
	if got := checked(&countingStage{}); !reflect.DeepEqual(got, policyAll) {
		t.Errorf("an undeclaring stage: checked %v, want %v", got, policyAll)
	}
}
