package diff

import (
	"fmt"
	"testing"

	"github.com/gate-ops/gate/checks"
)

// benchEnv builds n Deployments shaped like real ones; changed ones differ
// in replicas and image.
func benchEnv(n int, changed bool) []*checks.Resource {
	out := make([]*checks.Resource, n)
	for i := range out {
		replicas, image := 2, "web:1.0"
		if changed && i%10 == 0 {
			replicas, image = 3, "web:1.1"
		}
		obj := map[string]any{
			"apiVersion": "apps/v1", "kind": "Deployment",
			"metadata": map[string]any{"name": fmt.Sprintf("app-%d", i), "namespace": "shop",
				"labels": map[string]any{"app": fmt.Sprintf("app-%d", i), "tier": "web"}},
			"spec": map[string]any{"replicas": replicas, "template": map[string]any{"spec": map[string]any{
				"containers": []any{
					map[string]any{"name": "web", "image": image, "ports": []any{map[string]any{"containerPort": 8080}},
						"env": []any{map[string]any{"name": "A", "value": "1"}, map[string]any{"name": "B", "value": "2"}}},
					map[string]any{"name": "proxy", "image": "envoy:1"},
				}}}},
		}
		out[i] = &checks.Resource{ID: checks.ResourceID{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "shop", Name: fmt.Sprintf("app-%d", i)}, Object: obj}
	}
	return out
}

// BenchmarkEnvs diffs an environment of 1,000 Deployments, 100 of them changed.
func BenchmarkEnvs(b *testing.B) {
	base, head := benchEnv(1000, false), benchEnv(1000, true)
	b.ReportAllocs()
	for b.Loop() {
		d := Envs(base, head, Options{})
		if len(d.Changes) != 100 {
			b.Fatalf("%d changes", len(d.Changes))
		}
	}
}

// BenchmarkUnifiedLarge diffs a 5,000-line text with scattered edits.
func BenchmarkUnifiedLarge(b *testing.B) {
	var x, y []byte
	for i := 0; i < 5000; i++ {
		x = fmt.Appendf(x, "key%d: value%d\n", i, i)
		if i%250 == 0 {
			y = fmt.Appendf(y, "key%d: changed%d\n", i, i)
		} else {
			y = fmt.Appendf(y, "key%d: value%d\n", i, i)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if Unified("a", "b", string(x), string(y), 3) == "" {
			b.Fatal("no diff")
		}
	}
}
