package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

// limitRepo is a small ops repo: one plain environment of three documents.
func limitRepo(t *testing.T, gateYAML string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"envs/dev/cms.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: x}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, namespace: x}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: x}\n",
	}
	if gateYAML != "" {
		files["gate.yaml"] = gateYAML
	}
	for p, c := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestLimitsCLI runs gate check into each limit: each hit is a finding in
// the report (exit 1) that names the limit and how to raise it.
func TestLimitsCLI(t *testing.T) {
	findings := func(t *testing.T, out string) []map[string]any {
		t.Helper()
		var rep struct {
			Findings []map[string]any `json:"findings"`
			Envs     []struct {
				Findings []map[string]any `json:"findings"`
			} `json:"environments"`
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("json report: %v\n%s", err, out)
		}
		all := rep.Findings
		for _, e := range rep.Envs {
			all = append(all, e.Findings...)
		}
		return all
	}
	has := func(fs []map[string]any, rule, file string, msg ...string) bool {
		for _, f := range fs {
			o, _ := f["origin"].(map[string]any)
			if f["ruleId"] != rule || o["file"] != file {
				continue
			}
			ok := true
			for _, m := range msg {
				ok = ok && strings.Contains(f["message"].(string), m)
			}
			if ok {
				return true
			}
		}
		return false
	}
	tests := []struct {
		name     string
		gateYAML string
		args     []string
		code     int
		rule     string
		file     string
		msg      []string
	}{
		{"max-documents flag", "", []string{"--max-documents", "2"}, 1, "render/limit", "envs/dev/cms.yaml", []string{"--max-documents", "limits.maxDocuments"}},
		{"max-documents gate.yaml", "limits:\n  maxDocuments: 2\n", nil, 1, "render/limit", "envs/dev/cms.yaml", []string{"more than 2 YAML documents"}},
		{"flag raises gate.yaml", "limits:\n  maxDocuments: 2\n", []string{"--max-documents", "3"}, 0, "", "", nil},
		{"max-yaml-depth", "", []string{"--max-yaml-depth", "2"}, 1, "render/limit", "envs/dev/cms.yaml", []string{"--max-yaml-depth", "limits.maxYAMLDepth"}},
		{"max-yaml-nodes", "", []string{"--max-yaml-nodes", "5"}, 1, "render/limit", "envs/dev/cms.yaml", []string{"--max-yaml-nodes", "limits.maxYAMLNodes"}},
		{"run timeout", "", []string{"--timeout", "1ns"}, 1, "run/timeout", "gate.yaml", []string{"--timeout", "limits.runTimeout"}},
		{"max-file-size gate.yaml", "limits:\n  maxFileSize: 100B\n", nil, 1, "render/limit", "envs/dev/cms.yaml", []string{"over the 100 byte limit", "--max-file-size", "limits.maxFileSize"}},
		{"max-file-size flag wins", "limits:\n  maxFileSize: 100B\n", []string{"--max-file-size", "100000"}, 0, "", "", nil},
		{"memory budget", "limits:\n  memoryLimit: 1MiB\n", nil, 1, "run/memory-limit", "gate.yaml", []string{"1MiB", "--memory-limit", "limits.memoryLimit"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := debug.SetMemoryLimit(-1)
			args := append([]string{"--repo", limitRepo(t, tt.gateYAML), "check", "--no-policy", "--no-schema", "-o", "json"}, tt.args...)
			out, stderr, code := runGate(t, args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d: %s\n%s", code, tt.code, stderr, out)
			}
			if tt.rule != "" && !has(findings(t, out), tt.rule, tt.file, tt.msg...) {
				t.Errorf("no %s finding on %s naming %q:\n%s", tt.rule, tt.file, tt.msg, out)
			}
			if after := debug.SetMemoryLimit(-1); after != before {
				t.Errorf("the run left the process memory limit at %d (was %d)", after, before)
			}
		})
	}
	t.Run("memory budget stops an allocation bomb", func(t *testing.T) {
		// A policy that builds a 10^11-element array: with a long policy
		// deadline only the memory budget can stop it.
		repo := t.TempDir()
		if err := copyDir(filepath.Join("..", "..", "testdata", "hostile", "rego-unbounded-allocation", "repo"), repo); err != nil {
			t.Fatal(err)
		}
		out, stderr, code := runGate(t, "--repo", repo, "check", "--no-schema", "-o", "json", "--policy-timeout", "15m", "--memory-limit", "300MiB")
		if code != 1 || !has(findings(t, out), "run/memory-limit", "gate.yaml", "300MiB") {
			t.Fatalf("exit %d, want a run/memory-limit finding: %s\n%s", code, stderr, out)
		}
	})
	_, stderr, code := runGate(t, "--repo", limitRepo(t, "limits:\n  runTimeout: soon\n"), "check", "--no-policy", "--no-schema")
	if code != 2 || !strings.Contains(stderr, "limits.runTimeout") {
		t.Errorf("a bad limits.runTimeout: exit %d, %s", code, stderr)
	}
}
