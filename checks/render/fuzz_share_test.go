package render

import (
	"context"
	"testing"

	"github.com/gate-ops/gate/checks/config"
)

// FuzzRenderShared renders a catalog repo whose environment a has the
// fuzzed kustomization (b keeps the catalog's) with subtree sharing and
// with Options.NoShare: whatever the kustomization, sharing must not
// change what any environment renders. The seeds are the memo's own
// cases: a namePrefix, patches above the subtrees, generator merges.
func FuzzRenderShared(f *testing.F) {
	for _, seed := range []string{
		"namespace: a\nresources:\n  - ../../apps/web/overlay\n  - ../../apps/api/overlay\n",
		"namePrefix: p-\nresources:\n  - ../../apps/web/overlay\n  - ../../apps/api/overlay\n",
		"resources:\n  - ../../apps/web/overlay\n  - ../../apps/api/overlay\npatches:\n  - target: {kind: ConfigMap}\n    patch: |-\n      - op: add\n        path: /data/C\n        value: \"3\"\n",
		"resources:\n  - ../../apps/web/overlay\n  - ../../apps/api/overlay\nconfigMapGenerator:\n  - name: web-config\n    behavior: merge\n    literals: [C=3]\n",
		"resources:\n  - ../../apps/web/overlay\n  - ../../apps/api/overlay\npatches:\n  - target: {kind: Deployment, name: web}\n    patch: |-\n      - op: replace\n        path: /spec/replicas\n        value: 3\n",
		"resources:\n  - ../../apps/web/overlay\nimages:\n  - name: registry.example/web\n    newTag: \"2.0\"\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			return
		}
		src := memoRepo(map[string]string{"envs/a/kustomization.yaml": string(data)})
		cfg, _, err := config.Load(src, "")
		if err != nil {
			t.Fatal(err)
		}
		envs, _ := Discover(src, cfg)
		opts := Options{Limits: fuzzLimits}
		shared := New(opts).RenderAll(context.Background(), src, envs)
		opts.NoShare = true
		alone := New(opts).RenderAll(context.Background(), src, envs)
		sameRenders(t, shared, alone)
	})
}
