package schema

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/engine"
	"github.com/gate-ops/gate/checks/render"
)

// TestSchemasCompileOncePerVersionAndKind: however many resources and
// environments, and however many goroutines validate them at once, each
// (Kubernetes version, kind) schema compiles once and each CRD schema once.
func TestSchemasCompileOncePerVersionAndKind(t *testing.T) {
	st, _, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	env := func(name, k8s string, n int) *render.Result {
		docs := []string{benchCRD}
		for i := range n {
			docs = append(docs, fmt.Sprintf(benchDocs[i%len(benchDocs)], i))
		}
		return &render.Result{Env: checks.Env{Name: name, KubernetesVersion: k8s}, Resources: resourcesFromYAML(t, docs...)}
	}
	a, b, old := env("a", "1.35", 300), env("b", "1.35", 300), env("old", "1.34", 60)
	all := []*render.Result{a, b, old}
	var wg sync.WaitGroup
	errs := make(chan error, 9)
	for range 3 {
		for _, r := range all {
			wg.Add(1)
			go func() {
				defer wg.Done()
				fs, err := st.Check(context.Background(), &engine.Input{Env: r.Env, Head: r, All: all})
				if err == nil && len(fs) != 0 {
					err = fmt.Errorf("%s: unexpected findings %v", r.Env.Name, fs)
				}
				errs <- err
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// Deployment, Service, ConfigMap, Ingress, CronJob and the
	// CustomResourceDefinition itself: six built-in kinds per version.
	for _, minor := range []string{"1.35", "1.34"} {
		v, err := st.bundles.Resolve(minor)
		if err != nil {
			t.Fatal(err)
		}
		if n := v.compiles.Load(); n != 6 {
			t.Errorf("Kubernetes %s: %d schema compilations for 6 kinds", minor, n)
		}
	}
	if n := st.crdCompiles.Load(); n != 1 {
		t.Errorf("the Backup CRD schema compiled %d times", n)
	}
	if v, _ := st.bundles.Resolve("1.36"); v.compiles.Load() != 0 {
		t.Error("a version no environment uses was compiled")
	}
}

func TestDefaultKubernetesVersion(t *testing.T) {
	b, err := LoadBundles(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := DefaultKubernetesVersion(); got != b.Newest() || got != "1.37" {
		t.Errorf("DefaultKubernetesVersion() = %q, newest bundle %q", got, b.Newest())
	}
}

// Kinds compiled together (prepare) and kind by kind (schemaFor) judge
// every object alike, and what prepare compiled is never compiled again.
func TestPreparedKindsValidateAsKindByKind(t *testing.T) {
	fresh := func() *k8sVersion {
		b, err := LoadBundles(nil)
		if err != nil {
			t.Fatal(err)
		}
		v, err := b.Resolve("1.35")
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	keys := []string{"apps/v1/Deployment", "v1/Service", "v1/ConfigMap", "batch/v1/CronJob", "networking.k8s.io/v1/Ingress"}
	together, alone := fresh(), fresh()
	together.prepare(keys)
	if n := together.compiles.Load(); n != int64(len(keys)) {
		t.Fatalf("prepare compiled %d kinds, want %d", n, len(keys))
	}
	bad := map[string]any{"apiVersion": "x", "kind": "y", "metadata": map[string]any{"name": 7, "labels": []any{"a"}},
		"spec": map[string]any{"replicas": "two"}, "data": []any{1}}
	for _, key := range keys {
		i := strings.LastIndex(key, "/")
		a, err := together.schemaFor(key[:i], key[i+1:])
		if err != nil {
			t.Fatal(err)
		}
		b, err := alone.schemaFor(key[:i], key[i+1:])
		if err != nil {
			t.Fatal(err)
		}
		ea, eb := a.Validate(bad), b.Validate(bad)
		if ea == nil || eb == nil || sortedLines(ea.Error()) != sortedLines(eb.Error()) {
			t.Errorf("%s: prepared %v\nkind by kind %v", key, ea, eb)
		}
	}
	if n := together.compiles.Load(); n != int64(len(keys)) {
		t.Errorf("%d compilations after schemaFor, want the %d prepare made", n, len(keys))
	}
}

// sortedLines is s's lines sorted: the validator walks properties in map
// order.
func sortedLines(s string) string {
	lines := strings.Split(s, "\n")
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}
