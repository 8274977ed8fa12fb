package policy

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/engine"
	"github.com/gate-ops/gate/checks/render"
)

// syntheticEnv is a production environment of n objects: a realistic mix of
// workloads, Services, Ingresses, PodDisruptionBudgets, ConfigMaps and
// Secrets, some breaking rules.
func syntheticEnv(n int) *render.Result {
	res := &render.Result{Env: checks.Env{Name: "prod", Path: "env", Labels: map[string]string{"tier": "production"}, KubernetesVersion: "1.34"}}
	add := func(obj map[string]any) {
		md := obj["metadata"].(map[string]any)
		group, version := checks.ParseAPIVersion(obj["apiVersion"].(string))
		ns, _ := md["namespace"].(string)
		res.Resources = append(res.Resources, &checks.Resource{
			ID:     checks.ResourceID{Group: group, Version: version, Kind: obj["kind"].(string), Namespace: ns, Name: md["name"].(string)},
			Object: obj, Origin: checks.Origin{File: fmt.Sprintf("env/%d.yaml", len(res.Resources)), Line: 1},
		})
	}
	for i := 0; len(res.Resources) < n; i++ {
		ns := fmt.Sprintf("team-%d", i%50)
		name := fmt.Sprintf("app-%d", i)
		labels := map[string]any{"app": name, "app.kubernetes.io/name": name}
		image := fmt.Sprintf("ghcr.io/acme/%s:1.%d.0", name, i)
		if i%7 == 0 {
			image = "ghcr.io/acme/" + name + ":latest"
		}
		add(map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": name, "namespace": ns, "labels": labels},
			"spec": map[string]any{"replicas": float64(1 + i%3), "selector": map[string]any{"matchLabels": map[string]any{"app": name}},
				"template": map[string]any{"metadata": map[string]any{"labels": map[string]any{"app": name}}, "spec": map[string]any{
					"securityContext": map[string]any{"runAsNonRoot": i%11 != 0},
					"containers": []any{map[string]any{"name": "app", "image": image, "ports": []any{map[string]any{"containerPort": float64(8080)}},
						"resources": map[string]any{"requests": map[string]any{"cpu": "100m", "memory": "128Mi"}, "limits": map[string]any{"cpu": "1", "memory": "256Mi"}}}}}}}})
		svcType := "ClusterIP"
		if i%13 == 0 {
			svcType = "LoadBalancer"
		}
		add(map[string]any{"apiVersion": "v1", "kind": "Service", "metadata": map[string]any{"name": name, "namespace": ns, "labels": labels},
			"spec": map[string]any{"type": svcType, "selector": map[string]any{"app": name}, "ports": []any{map[string]any{"port": float64(80)}}}})
		add(map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": name, "namespace": ns, "labels": labels},
			"data": map[string]any{"LOG_LEVEL": "info"}})
		if i%2 == 0 {
			add(map[string]any{"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": map[string]any{"name": name, "namespace": ns},
				"spec": map[string]any{"minAvailable": float64(1), "selector": map[string]any{"matchLabels": map[string]any{"app": name}}}})
		}
		host := fmt.Sprintf("%s.example.com", name)
		if i%17 == 0 {
			host = "shared.example.com"
		}
		add(map[string]any{"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": map[string]any{"name": name, "namespace": ns},
			"spec": map[string]any{"rules": []any{map[string]any{"host": host}}}})
		if i%19 == 0 {
			add(map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": name, "namespace": ns}, "data": map[string]any{"token": "c2VjcmV0"}})
		}
	}
	res.Resources = res.Resources[:n]
	return res
}

// BenchmarkBuiltinLibrary10k evaluates the whole built-in library over an
// environment of 10,000 objects, as gate check does for one environment.
func BenchmarkBuiltinLibrary10k(b *testing.B) {
	res := syntheticEnv(10000)
	cfg := &config.Config{Policies: config.Policies{RequiredLabels: []string{"app.kubernetes.io/name"}}}
	st, finds := Load(context.Background(), nil, cfg, Options{})
	if len(finds) > 0 {
		b.Fatal(finds)
	}
	in := &engine.Input{Env: res.Env, Head: res}
	var n int
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		fs, err := st.Check(context.Background(), in)
		if err != nil {
			b.Fatal(err)
		}
		n = len(fs)
		// A rule that hit its deadline (a machine too busy) did less work:
		// that run measures nothing.
		for _, f := range fs {
			if strings.HasPrefix(f.RuleID, "policy/") {
				b.Fatalf("policy problem, the measurement is void: %s", f)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/10000, "ns/resource")
	b.ReportMetric(float64(n), "findings")
}

func TestSyntheticEnvFindings(t *testing.T) {
	// The benchmark's environment exercises every kind of rule; this keeps
	// it honest (and runs the env-scoped rules over 2,000 objects).
	res := syntheticEnv(2000)
	cfg := &config.Config{Policies: config.Policies{RequiredLabels: []string{"app.kubernetes.io/name"}}}
	// What is asserted is which rules fire, not how fast: a loaded CI
	// machine must not turn the deadline into a failure here.
	opts := testOpts()
	opts.Timeout = time.Minute
	st := mustLoad(t, nil, cfg, opts)
	fs, _ := st.Check(context.Background(), &engine.Input{Env: res.Env, Head: res})
	seen := map[string]int{}
	for _, f := range fs {
		seen[f.RuleID]++
	}
	for _, id := range []string{"image-tag-pinned", "run-as-non-root", "service-exposed", "production-replicas", "production-pdb", "ingress-host-unique", "no-plaintext-secrets", "required-labels"} {
		if seen[id] == 0 {
			t.Errorf("no %s findings: %v", id, seen)
		}
	}
	for id := range seen {
		if len(id) > 7 && id[:7] == "policy/" {
			t.Errorf("policy problem: %v", byRule(fs, id))
		}
	}
}
