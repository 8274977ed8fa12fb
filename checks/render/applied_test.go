package render

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gate-ops/gate/internal/testing/corpus"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// TestResMapYAMLSameAsAsYamlCorpus: resMapYAML writes what kustomize's AsYaml
// writes, for the build of every kustomization under the repository's
// testdata (and the shared corpus when present) that kustomize builds, and
// it writes most objects itself.
func TestResMapYAMLSameAsAsYamlCorpus(t *testing.T) {
	corpus.Wide(t)
	var dirs []string
	roots := []string{"../../testdata", "testdata", "../../../shared/corpus", "../../../../shared/corpus"}
	if dir := os.Getenv("GATE_BENCH_REPO"); dir != "" {
		roots = append(roots, dir)
	}
	for _, root := range roots {
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			// The hostile and broken repos exist to be refused by gate's
			// limits; raw kustomize has none (testdata/broken/alias-bomb
			// expands to 5 GB).
			if err != nil || d.IsDir() || d.Name() != "kustomization.yaml" || strings.Contains(p, "hostile") || strings.Contains(p, "broken") {
				return nil
			}
			// Remote bases would reach the network: not here.
			if b, err := os.ReadFile(p); err == nil && !strings.Contains(string(b), "://") && !strings.Contains(string(b), "github.com") {
				dirs = append(dirs, filepath.Dir(p))
			}
			return nil
		})
	}
	initKustomize()
	builds, objects, direct := 0, 0, 0
	for _, dir := range dirs {
		abs, _ := filepath.Abs(dir)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		rm, err := bounded(ctx, "kustomize", func() (resmap.ResMap, error) {
			return krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), abs)
		})
		cancel()
		if err != nil {
			continue
		}
		builds++
		want, werr := rm.AsYaml()
		got, gerr := resMapYAML(rm)
		if (werr != nil) != (gerr != nil) || !bytes.Equal(got, want) {
			t.Errorf("%s:\nAsYaml (err %v):\n%s\nresMapYAML (err %v):\n%s", dir, werr, want, gerr, got)
		}
		for _, r := range rm.Resources() {
			objects++
			if obj, err := r.Map(); err == nil && !atRisk(r.YNode()) && decodedStable(obj) {
				if _, ok := emitObject(normalize(obj).(map[string]any)); ok {
					direct++
				}
			}
		}
	}
	t.Logf("%d kustomizations built, %d objects, %d written directly", builds, objects, direct)
	if builds < 20 || direct < objects/2 {
		t.Errorf("only %d builds, %d of %d objects written directly", builds, direct, objects)
	}
}

// TestResMapYAMLAtRisk: objects holding scalars kyaml's writer changes
// (folded with a more-indented line, keep-chomped followed by blank lines,
// an empty null) are written as kustomize writes them.
func TestResMapYAMLAtRisk(t *testing.T) {
	fsys := filesys.MakeFsInMemory()
	_ = fsys.WriteFile("/app/kustomization.yaml", []byte("resources:\n  - cm.yaml\n"))
	_ = fsys.WriteFile("/app/cm.yaml", []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  f: >\n    one\n      two\n    three\n  k: |+\n    x\n\n\n  n:\n  s: plain\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  labels: {x: }\ndata:\n  s: y\n"))
	initKustomize()
	rm, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fsys, "/app")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := rm.AsYaml()
	got, err := resMapYAML(rm)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("AsYaml:\n%s\nresMapYAML (err %v):\n%s", want, err, got)
	}
}
