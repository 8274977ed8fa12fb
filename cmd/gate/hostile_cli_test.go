package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gate-ops/gate/internal/testing/gittest"
)

// hostileCanary is the Secret value planted in testdata/hostile.
const hostileCanary = "GATE-CANARY-5e1f0c7a9b"

// TestHostileCanaryCLI runs every command that reports (render, validate,
// check, diff, policy test) with every output format on the hostile cases
// that echo a Secret through a renderer error, a policy message or its
// details, a schema error: the value reaches neither stdout, the debug log
// on stderr nor any report file. (internal/testing/hostile runs the whole
// corpus through the engine; this is the same promise through the CLI.)
func TestHostileCanaryCLI(t *testing.T) {
	cases := []string{"helm-fail-echoes-secret", "secret-generator-echo", "secret-env-file-invalid-utf8", "rego-echoes-secret", "secret-bad-base64", "yaml-multidoc-garbage",
		"rego-details-echoes-secret", "secret-list-kustomize-error", "secret-chart-kustomize-error", "secret-quoted-forms"}
	formats := func(dir string) []string {
		var args []string
		for _, f := range []string{"json", "sarif", "junit", "markdown", "github"} {
			args = append(args, "-o", f+"="+filepath.Join(dir, "report."+f))
		}
		return args
	}
	for _, name := range cases {
		t.Run(name, func(t *testing.T) {
			r := gittest.New(t)
			r.CopyTree(filepath.Join("..", "..", "testdata", "hostile", name, "repo"))
			r.Commit("base")
			repo := r.Dir
			commands := map[string][]string{
				"check":       {"-v", "check", "-o", "text"},
				"diff":        {"-v", "diff", "--base", "HEAD", "--all-envs", "-o", "text"},
				"validate":    {"-v", "validate", "--all", "-o", "text"},
				"render":      {"-v", "render", "--all"},
				"render-json": {"-v", "render", "--all", "-o", "json"},
				"policy-test": {"-v", "policy", "test"},
			}
			for cmdName, cmdArgs := range commands {
				outDir := t.TempDir()
				args := append([]string{"--repo", repo}, cmdArgs...)
				if cmdArgs[1] != "render" && cmdArgs[1] != "policy" {
					args = append(args, formats(outDir)...)
				}
				stdout, stderr, code := runGate(t, args...)
				if cmdName == "check" && code != 1 {
					t.Errorf("check: exit %d, want 1 (the gate fails on the hostile input)\n%s%s", code, stdout, stderr)
				}
				outputs := map[string]string{"stdout": stdout, "stderr": stderr}
				if cmdArgs[1] == "render" {
					// gate render prints the rendered objects, Secrets as
					// they are (what kustomize build prints, render parity);
					// its findings and errors go to stderr and the JSON's
					// findings, which must be clean.
					outputs["stdout"] = ""
					var envs []struct {
						Findings json.RawMessage `json:"findings"`
					}
					if cmdName == "render-json" {
						if err := json.Unmarshal([]byte(stdout), &envs); err != nil {
							t.Fatalf("render -o json: %v\n%s", err, stdout)
						}
						for _, e := range envs {
							outputs["stdout"] += string(e.Findings)
						}
					}
				}
				ents, _ := os.ReadDir(outDir)
				for _, e := range ents {
					b, err := os.ReadFile(filepath.Join(outDir, e.Name()))
					if err != nil {
						t.Fatal(err)
					}
					outputs[e.Name()] = string(b)
				}
				if cmdName == "check" {
					if len(outputs) != 7 {
						t.Errorf("want 7 outputs, got %d", len(outputs))
					}
					if !strings.Contains(outputs["report.json"], `"pass": false`) || !strings.Contains(outputs["report.json"], `"severity": "error"`) {
						t.Errorf("the json report does not fail with an error finding:\n%s", outputs["report.json"])
					}
					if !strings.Contains(stderr, "level=DEBUG") {
						t.Errorf("no debug log captured on stderr:\n%s", stderr)
					}
				}
				for out, text := range outputs {
					for _, l := range canaryLeaks() {
						if strings.Contains(text, l) {
							t.Errorf("gate %s: %s leaks the secret value %q", cmdName, out, l)
						}
					}
				}
			}
		})
	}
}

// canaryLeaks are the forms the canary must appear in nowhere: in clear,
// in base64 and as the byte list %v prints.
func canaryLeaks() []string {
	return []string{hostileCanary, base64.StdEncoding.EncodeToString([]byte(hostileCanary)), strings.Trim(fmt.Sprint([]byte(hostileCanary)), "[]")}
}

// copyDir copies a tree, keeping symlinks as they are.
func copyDir(src, dst string) error { return copyTree(src, dst, bytes.Clone) }

// copyTree copies a tree, keeping symlinks as they are, skipping special
// files, and passing each regular file's content through edit.
func copyTree(src, dst string, edit func([]byte) []byte) error {
	return filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, to)
		case fi.IsDir():
			return os.MkdirAll(to, 0o755)
		case !fi.Mode().IsRegular():
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, edit(b), 0o644)
	})
}
