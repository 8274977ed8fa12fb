package schema

import (
	"context"
	"sync"
	"testing"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/engine"
	"github.com/gate-ops/gate/checks/render"
	"github.com/gate-ops/gate/checks/source"
)

var (
	sharedOnce  sync.Once
	sharedStage *Stage
	sharedErr   error
)

// testStage is one stage for the whole test binary, the way a run or a
// server uses it: schemas compile once and are shared.
func testStage(t testing.TB) *Stage {
	t.Helper()
	sharedOnce.Do(func() { sharedStage, _, sharedErr = New(Options{}) })
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return sharedStage
}

// renderDir renders a plain directory of testdata/schema as one env.
func renderDir(t testing.TB, root, dir, k8s string) *render.Result {
	t.Helper()
	src, err := source.OpenDir(root, 0)
	if err != nil {
		t.Fatal(err)
	}
	env := checks.Env{Name: "test", Path: dir, Kind: render.KindPlain, KubernetesVersion: k8s}
	return render.New(render.Options{}).Render(context.Background(), src, env)
}

func check(t testing.TB, st *Stage, res ...*render.Result) []checks.Finding {
	t.Helper()
	var out []checks.Finding
	for _, r := range res {
		fs, err := st.Check(context.Background(), &engine.Input{Env: r.Env, Head: r, All: res})
		if err != nil {
			t.Fatalf("Check(%s): %v", r.Env.Name, err)
		}
		out = append(out, fs...)
	}
	return out
}
