package live_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/gate-ops/gate/checks/live"
	"github.com/gate-ops/gate/internal/cluster"
	"github.com/gate-ops/gate/internal/testing/kubetest"
)

// BenchmarkCompare compares a 200-object environment (one change) with a
// real API server, base and head, drift and prune preview included: the
// cost of `gate diff --live` per environment.
func BenchmarkCompare(b *testing.B) {
	kubetest.Need(b, server)
	files := map[string]string{"app/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: bench\n"}
	var res strings.Builder
	res.WriteString("resources:\n- namespace.yaml\n")
	for i := range 200 {
		name := fmt.Sprintf("cm-%03d.yaml", i)
		res.WriteString("- " + name + "\n")
		files["app/"+name] = fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%03d\n  namespace: bench\ndata:\n  I: %q\n", i, fmt.Sprint(i))
	}
	files["app/kustomization.yaml"] = res.String()
	base := renderRepo(b, files)
	deploy(b, base, "bench")
	files["app/cm-007.yaml"] = strings.Replace(files["app/cm-007.yaml"], `"7"`, `"seven"`, 1)
	head := renderRepo(b, files)
	cfg := *server.Config
	cfg.QPS = -1 // measure gate and the server, not client-go's rate limiter
	c, err := cluster.New(&cfg, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		r := live.Compare(context.Background(), c, head, base, live.Options{})
		if len(r.Live.Changes) != 1 {
			b.Fatalf("want one change, got %d", len(r.Live.Changes))
		}
	}
}
