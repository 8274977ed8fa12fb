package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// runGate runs the CLI in process and returns stdout, stderr and the exit code.
func runGate(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := execute(context.Background(), args, nil, &out, &errb)
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
		{"no env is every env", []string{"--repo", exampleRepo, "render"}, 0, "# ===== environment staging (overlays/staging): ", ""},
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

// TestRenderEveryEnvInOrder: gate render without --env renders every
// environment like gate check, in gate envs' order, each opened by one
// separator comment naming it and counting its documents.
func TestRenderEveryEnvInOrder(t *testing.T) {
	out, stderr, code := runGate(t, "--repo", exampleRepo, "render")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	sep := regexp.MustCompile(`(?m)^# ===== environment (\S+) \((\S+)\): (\d+) resources? =====$`)
	var got []string
	for _, m := range sep.FindAllStringSubmatch(out, -1) {
		got = append(got, m[1]+" "+m[2])
		// The documents between this separator and the next are the env's.
		start := strings.Index(out, m[0]) + len(m[0])
		rest := out[start:]
		if next := sep.FindStringIndex(rest); next != nil {
			rest = rest[:next[0]]
		}
		if n := strings.Count(rest, "\n---\n"); fmt.Sprint(n) != m[3] {
			t.Errorf("%s: separator says %s resources, %d documents follow", m[1], m[3], n)
		}
		if strings.Contains(rest, "# Env: ") && strings.Count(rest, "# Env: "+m[1]+"\n") != strings.Count(rest, "# Env: ") {
			t.Errorf("%s: documents of another environment under its separator", m[1])
		}
	}
	want := []string{"dev overlays/dev", "staging overlays/staging", "prod overlays/prod"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("separators %q, want %q", got, want)
	}
	one, _, _ := runGate(t, "--repo", exampleRepo, "render", "--env", "prod")
	if strings.Contains(one, "# =====") {
		t.Errorf("one environment: no separator wanted:\n%.300s", one)
	}
}
