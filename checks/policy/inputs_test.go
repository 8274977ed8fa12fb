package policy

import (
	"reflect"
	"testing"

	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/engine"
)

var _ engine.Inputs = (*Stage)(nil)

// TestStageInputs: the policy stage declares the directories and data it
// reads, so a change there checks every environment.
func TestStageInputs(t *testing.T) {
	cfg := &config.Config{Policies: config.Policies{Paths: []string{"rules/opa"}, Data: []string{"data/exclusions.yaml"}}}
	want := []string{"policy", "policies", "rules/opa", "data/exclusions.yaml"}
	if got := (&Stage{cfg: cfg}).Inputs(); !reflect.DeepEqual(got, want) {
		t.Errorf("Inputs() = %v, want %v", got, want)
	}
}
