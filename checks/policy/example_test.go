package policy

import (
	"testing"

	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/source"
)

const example = "../../testdata/example"

func TestExampleRepo(t *testing.T) {
	src, err := source.OpenDir(example, 0)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := config.Load(src, "")
	if err != nil {
		t.Fatal(err)
	}
	st := mustLoad(t, src, cfg, testOpts())
	for _, res := range renderAll(t, src, cfg) {
		fs := check(t, st, res, nil)
		t.Logf("%s:%s", res.Env.Name, dump(fs))
	}
}
