package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// hostileCanary is the Secret value planted in testdata/hostile.
const hostileCanary = "GATE-CANARY-5e1f0c7a9b"

// TestHostileCanaryCLI runs `gate -v check` with every output format on
// the hostile cases that echo a Secret through a renderer error, a policy
// message or a schema error: the value reaches neither stdout, the debug
// log on stderr nor any report file. (internal/testing/hostile runs the whole
// corpus through the engine; this is the same promise through the CLI.)
func TestHostileCanaryCLI(t *testing.T) {
	cases := []string{"helm-fail-echoes-secret", "secret-generator-echo", "secret-env-file-invalid-utf8", "rego-echoes-secret", "secret-bad-base64", "yaml-multidoc-garbage"}
	for _, name := range cases {
		t.Run(name, func(t *testing.T) {
			repo := filepath.Join(t.TempDir(), "repo")
			if err := copyDir(filepath.Join("..", "..", "testdata", "hostile", name, "repo"), repo); err != nil {
				t.Fatal(err)
			}
			outDir := t.TempDir()
			args := []string{"--repo", repo, "-v", "check", "-o", "text"}
			for _, f := range []string{"json", "sarif", "junit", "markdown", "github"} {
				args = append(args, "-o", f+"="+filepath.Join(outDir, "report."+f))
			}
			stdout, stderr, code := runGate(t, args...)
			if code != 1 {
				t.Errorf("exit %d, want 1 (the gate fails on the hostile input)\n%s%s", code, stdout, stderr)
			}
			outputs := map[string]string{"stdout": stdout, "stderr": stderr}
			ents, _ := os.ReadDir(outDir)
			for _, e := range ents {
				b, err := os.ReadFile(filepath.Join(outDir, e.Name()))
				if err != nil {
					t.Fatal(err)
				}
				outputs[e.Name()] = string(b)
			}
			if len(outputs) != 7 {
				t.Errorf("want 7 outputs, got %d", len(outputs))
			}
			// In clear, in base64 and as the byte list %v prints.
			leaks := []string{hostileCanary, base64.StdEncoding.EncodeToString([]byte(hostileCanary)), strings.Trim(fmt.Sprint([]byte(hostileCanary)), "[]")}
			for name, out := range outputs {
				for _, l := range leaks {
					if strings.Contains(out, l) {
						t.Errorf("%s leaks the secret value %q", name, l)
					}
				}
			}
			if !strings.Contains(outputs["report.json"], `"pass": false`) || !strings.Contains(outputs["report.json"], `"severity": "error"`) {
				t.Errorf("the json report does not fail with an error finding:\n%s", outputs["report.json"])
			}
			if !strings.Contains(stderr, "level=DEBUG") {
				t.Errorf("no debug log captured on stderr:\n%s", stderr)
			}
		})
	}
}

// copyDir copies a tree, keeping symlinks as they are.
func copyDir(src, dst string) error {
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
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, bytes.Clone(b), 0o644)
	})
}
