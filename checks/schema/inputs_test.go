package schema

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/engine"
	"github.com/gate-ops/gate/checks/source"
)

var _ engine.Inputs = (*Stage)(nil)

// TestStageInputs: the schema stage declares schemas.paths.
func TestStageInputs(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "crds"), 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := source.OpenDir(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	st, _, err := New(Options{Config: config.Schemas{Paths: []string{"crds"}}, Source: src})
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Inputs(); !reflect.DeepEqual(got, []string{"crds"}) {
		t.Errorf("Inputs() = %v, want [crds]", got)
	}
}
