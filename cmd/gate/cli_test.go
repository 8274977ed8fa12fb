package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// runGate runs the CLI in process and returns stdout, stderr and the exit code.
func runGate(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, nil, &out, &errb)
	return out.String(), errb.String(), code
}

const exampleRepo = "../../testdata/example"

func TestEnvs(t *testing.T) {
	out, stderr, code := runGate(t, "--repo", exampleRepo, "envs")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"dev", "overlays/staging", "prod", "1.34", "declared in gate.yaml:12"} {
		if !strings.Contains(out, want) {
			t.Errorf("gate envs output lacks %q:\n%s", want, out)
		}
	}
	out, _, code = runGate(t, "--repo", exampleRepo, "envs", "-o", "json")
	var envs []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &envs) != nil || len(envs) != 3 {
		t.Fatalf("json envs: exit %d, %s", code, out)
	}
}

func TestRenderCLI(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"one env", []string{"--repo", exampleRepo, "render", "--env", "prod"}, 0, "# Source: overlays/prod/charts/cache/templates/deployment.yaml:2", ""},
		{"repeatable env", []string{"--repo", exampleRepo, "render", "-e", "dev", "-e", "staging"}, 0, "# Env: staging", ""},
		{"json", []string{"--repo", exampleRepo, "render", "--all", "-o", "json"}, 0, `"file": "overlays/prod/deployment-prod.yaml"`, ""},
		{"no env", []string{"--repo", exampleRepo, "render"}, 2, "", "name an environment with --env"},
		{"unknown env", []string{"--repo", exampleRepo, "render", "--env", "qa"}, 2, "", `unknown environment "qa" (known: dev, staging, prod)`},
		{"bad output", []string{"--repo", exampleRepo, "render", "--all", "-o", "xml"}, 2, "", `--output "xml"`},
		{"bad flag", []string{"--repo", exampleRepo, "render", "--bogus"}, 2, "", "unknown flag: --bogus"},
		{"remote base", []string{"--repo", "../../testdata/broken/remote-base", "render", "--all"}, 1, "", "kustomization.yaml:3: error render/remote-base"},
		{"invalid yaml", []string{"--repo", "../../testdata/broken/invalid-yaml", "render", "--all"}, 1, "", "bad.yaml:6: error render/invalid-yaml"},
		{"bad config", []string{"--repo", "../../testdata/broken/bad-config", "envs"}, 2, "", `gate.yaml:3: unknown key "kubernetesVersoin"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, stderr, code := runGate(t, tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstderr: %s", code, tt.code, stderr)
			}
			if !strings.Contains(out, tt.stdout) {
				t.Errorf("stdout lacks %q:\n%.2000s", tt.stdout, out)
			}
			if !strings.Contains(stderr, tt.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.stderr, stderr)
			}
		})
	}
}

func TestVersionAndCompletion(t *testing.T) {
	out, _, code := runGate(t, "version")
	if code != 0 || !strings.HasPrefix(out, "gate ") {
		t.Errorf("version: %d %q", code, out)
	}
	out, _, code = runGate(t, "completion", "bash")
	if code != 0 || !strings.Contains(out, "__start_gate") {
		t.Errorf("bash completion: exit %d", code)
	}
	out, _, code = runGate(t, "--repo", exampleRepo, "__complete", "render", "--env", "")
	if code != 0 || !strings.Contains(out, "prod\toverlays/prod") {
		t.Errorf("--env completion: %d %q", code, out)
	}
	out, _, code = runGate(t, "config", "schema")
	if code != 0 || !json.Valid([]byte(out)) {
		t.Errorf("config schema is not JSON")
	}
}
