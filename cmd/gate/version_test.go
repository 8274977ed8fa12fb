package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/gate-ops/gate/internal/run"
)

func TestKustomizeLine(t *testing.T) {
	tests := []struct{ api, want string }{
		{"v0.21.2", "kustomize v5.8.2 (api v0.21.2)"},
		{"v0.21.1", "kustomize v5.8.1 (api v0.21.1)"},
		{"v0.99.0", "kustomize api v0.99.0 (no kustomize release known for it)"},
	}
	for _, tt := range tests {
		if got := run.KustomizeLine(tt.api); got != tt.want {
			t.Errorf("kustomizeLine(%s) = %q, want %q", tt.api, got, tt.want)
		}
	}
}

// TestKustomizeReleaseOfGoMod: gate version names the kustomize release of
// the api module go.mod requires, so a bump of the module without the
// release in the table fails here, not in a user's bug report.
func TestKustomizeReleaseOfGoMod(t *testing.T) {
	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*sigs\.k8s\.io/kustomize/api (v\S+)`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("go.mod does not require sigs.k8s.io/kustomize/api")
	}
	api := string(m[1])
	rel, ok := run.KustomizeReleases[api]
	if !ok {
		t.Fatalf("go.mod requires kustomize api %s: add the kustomize/v5 release whose go.mod requires it to kustomizeReleases", api)
	}
	out, _, code := runGate(t, "version")
	want := "kustomize " + rel + " (api " + api + ")"
	if code != 0 || !strings.Contains(out, "\n"+want+"\n") {
		t.Errorf("gate version: exit %d, lacks the line %q:\n%s", code, want, out)
	}
}
