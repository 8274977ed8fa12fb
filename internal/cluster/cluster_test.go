package cluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func TestConfigExplainsWhatIsMissing(t *testing.T) {
	dir := t.TempDir()
	kc := filepath.Join(dir, "config")
	if err := os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:6443"}
users:
- name: u
  user: {token: abc}
contexts:
- name: prod
  context: {cluster: c, user: u}
current-context: prod
`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, kubeconfig, context, wantHost, wantErr string
	}{
		{"named context", kc, "prod", "https://127.0.0.1:6443", ""},
		{"current context", kc, "", "https://127.0.0.1:6443", ""},
		{"unknown context", kc, "staging", "", `"staging"`},
		{"missing file", filepath.Join(dir, "nope"), "prod", "", "nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Config(tt.kubeconfig, tt.context)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("want an error naming %s, got %v", tt.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Host != tt.wantHost || cfg.BearerToken != "abc" {
				t.Errorf("host %q token %q", cfg.Host, cfg.BearerToken)
			}
		})
	}
}

// TestRBACIsReadOnlyExceptDryRun keeps the documented roles honest: the
// reader never writes, and the only write verbs are in the optional dry-run
// role.
func TestRBACIsReadOnlyExceptDryRun(t *testing.T) {
	docs := strings.Split(string(RBAC), "\n---\n")
	roles := map[string][]string{}
	for _, d := range docs {
		var obj struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
			Rules []struct {
				Verbs []string `json:"verbs"`
			} `json:"rules"`
		}
		if err := yaml.Unmarshal([]byte(d), &obj); err != nil {
			t.Fatalf("rbac.yaml: %v", err)
		}
		if obj.Kind != "ClusterRole" {
			continue
		}
		for _, r := range obj.Rules {
			roles[obj.Metadata.Name] = append(roles[obj.Metadata.Name], r.Verbs...)
		}
	}
	if got := strings.Join(roles["gate-live-reader"], ","); got != "get,list,get" {
		t.Errorf("gate-live-reader verbs %q, want only get and list", got)
	}
	if got := strings.Join(roles["gate-live-dry-run"], ","); got != "patch,create" {
		t.Errorf("gate-live-dry-run verbs %q, want patch and create (used with dryRun=All only)", got)
	}
}
