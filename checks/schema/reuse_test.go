package schema

import (
	"context"
	"testing"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/engine"
	"github.com/gate-ops/gate/checks/render"
	"github.com/gate-ops/gate/checks/source"
)

// TestReuseKeyHoldsCRDs: the same custom resource validated against
// another CRD (the base's and the head's differ) is validated again, not
// given the first verdict; the same CRDs reuse it.
func TestReuseKeyHoldsCRDs(t *testing.T) {
	thing := "apiVersion: x.io/v1\nkind: Thing\nmetadata:\n  name: a\n  namespace: ns\nspec:\n  size: 3\n"
	env := checks.Env{Name: "x", Path: "envs/x", Kind: render.KindPlain}
	side := func(sizeType string) *render.Result {
		files := map[string]string{
			"envs/x/crd.yaml":   crd(`{type: object, properties: {spec: {type: object, properties: {size: {type: ` + sizeType + `}}}}}`),
			"envs/x/thing.yaml": thing,
		}
		return render.New(render.Options{}).Render(context.Background(), source.NewMem("x", files), env)
	}
	st := testStage(t)
	vs := engine.NewVerdicts()
	run := func(res *render.Result) []checks.Finding {
		fs, err := st.Check(context.Background(), &engine.Input{Env: env, Head: res, All: []*render.Result{res}, Verdicts: vs})
		if err != nil {
			t.Fatal(err)
		}
		return fs
	}
	if fs := run(side("integer")); len(fs) != 0 {
		t.Fatalf("size as integer: %s", rules(fs))
	}
	if fs := run(side("string")); rules(fs) != "error "+RuleInvalid+" spec.size" {
		t.Errorf("size as string, judged with the other CRD: %q", rules(fs))
	}
	before := vs.Hits()
	if fs := run(side("integer")); len(fs) != 0 || vs.Hits() == before {
		t.Errorf("same CRDs again: %s, %d reused", rules(fs), vs.Hits()-before)
	}
}
