package render

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/source"
)

const argoExample = "../../testdata/argocd"

func openArgo(t testing.TB) (source.Source, *config.Config) {
	t.Helper()
	src, err := source.OpenDir(argoExample, 0)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := config.Load(src, "")
	if err != nil {
		t.Fatal(err)
	}
	return src, cfg
}

// envTable is what `gate envs` shows of Argo CD environments: name, file,
// and the tree with the line of each node.
func envTable(envs []checks.Env) string {
	var b strings.Builder
	for _, e := range envs {
		fmt.Fprintf(&b, "%s %s %s cluster=%s ns=%s\n", e.Name, e.Kind, e.Path, e.Cluster, e.Namespace)
		for _, n := range e.Tree {
			fmt.Fprintf(&b, "%s%s %s [%s] %s", strings.Repeat("  ", n.Depth+1), n.Kind, n.Name, n.Detail, n.Origin)
			if n.NotRendered != "" {
				fmt.Fprintf(&b, " NOT RENDERED: %s", n.NotRendered)
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

func TestArgoDiscover(t *testing.T) {
	src, cfg := openArgo(t)
	envs, finds := Discover(src, cfg)
	for _, f := range finds {
		t.Errorf("discover finding: %s", f)
	}
	golden(t, "argocd/envs.txt", envTable(envs))
}

func TestArgoRenderGolden(t *testing.T) {
	src, cfg := openArgo(t)
	envs, _ := Discover(src, cfg)
	r := New(Options{})
	for _, e := range envs {
		t.Run(e.Name, func(t *testing.T) {
			res := r.Render(context.Background(), src, e)
			var b strings.Builder
			for _, f := range res.Findings {
				fmt.Fprintf(&b, "# finding: %s\n", f)
			}
			fmt.Fprintf(&b, "# files: %s\n", strings.Join(res.Files, " "))
			b.WriteString(asYAML(res))
			golden(t, "argocd/"+e.Name+".yaml", b.String())
		})
	}
}
