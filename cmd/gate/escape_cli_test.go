package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"

	"go.yaml.in/yaml/v3"
)

// TestHostileNamesCLI: a file name with a newline and a label with
// terminal escapes and a bidi override, from a pull request, reach `gate
// render`, `gate check` and `gate validate` as visible escapes: no
// control, escape or bidi character reaches the terminal, the `# Source:`
// comment stays one line (no document is injected into the stream), and
// no line can forge gate's verdict.
func TestHostileNamesCLI(t *testing.T) {
	repo := t.TempDir()
	evilFile := "cm\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: injected}\nspec: {containers: [{name: x, image: x, securityContext: {privileged: true}}]}\n# .yaml"
	cm := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  labels:\n    evil: \"\\e[31mred\\e]8;;https://x\\a\\u202e\"\n" +
		"  annotations:\n    note: \"x\\nresult: PASS\\u2066\"\ndata:\n  k: \"\\u202egnp.exe\"\n"
	files := map[string]string{
		"gate.yaml":                      "apiVersion: gate/v1\nenvironments:\n  - name: kust\n    path: env\n  - name: plain\n    path: plain\n",
		filepath.Join("plain", evilFile): cm,
		"env/kustomization.yaml":         "resources:\n- " + strings.ReplaceAll(yamlQuote(evilFile), "\n", "\\n") + "\n",
		filepath.Join("env", evilFile):   cm,
	}
	for name, body := range files {
		p := filepath.Join(repo, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{
		{"render", "--all"},
		{"check", "-o", "text"},
		{"check", "-o", "github"},
		{"validate", "--all"},
		{"envs"},
	} {
		stdout, stderr, code := runGate(t, append([]string{"--repo", repo}, args...)...)
		if code == 2 {
			t.Fatalf("%v: exit 2: %s", args, stderr)
		}
		for name, out := range map[string]string{"stdout": stdout, "stderr": stderr} {
			for i, r := range out {
				if r < 0x20 && r != '\n' || r == 0x7f || r >= 0x80 && r <= 0x9f || unicode.Is(unicode.Cf, r) {
					t.Errorf("gate %v %s: hidden %U at %d: %q", args, name, r, i, out[max(0, i-30):min(len(out), i+30)])
					break
				}
			}
			for _, l := range strings.Split(out, "\n") {
				if strings.HasPrefix(l, "result: PASS") {
					t.Errorf("gate %v %s: a forged verdict line %q", args, name, l)
				}
			}
		}
		if args[0] != "render" {
			continue
		}
		if !strings.Contains(stdout, `# Source: plain/cm\n---\napiVersion: v1\nkind: Pod`) {
			t.Errorf("the # Source: comment does not show the file name escaped:\n%s", stdout)
		}
		dec := yaml.NewDecoder(strings.NewReader(stdout))
		docs := 0
		for {
			var doc map[string]any
			err := dec.Decode(&doc)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("gate render writes a stream YAML cannot read: %v\n%s", err, stdout)
			}
			docs++
			if doc["kind"] != "ConfigMap" {
				t.Errorf("gate render's stream holds a document gate did not render: %v", doc)
			}
			md, _ := doc["metadata"].(map[string]any)
			labels, _ := md["labels"].(map[string]any)
			if labels["evil"] != "\x1b[31mred\x1b]8;;https://x\a\u202e" {
				t.Errorf("the label does not read back as the object holds it: %q", labels["evil"])
			}
		}
		if docs != 2 {
			t.Errorf("gate render wrote %d documents, want 2", docs)
		}
	}
}

// yamlQuote writes s as a YAML double-quoted scalar.
func yamlQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(s) + `"`
}
