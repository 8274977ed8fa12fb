package hostile

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// corpus is the hostile corpus, relative to this package.
const corpus = "../../../testdata/hostile"

// Canary is the secret value planted in the hostile repos, in the files
// planted outside them and in their .git directory. It must never appear
// in any output, log line or check-run payload, in clear or in base64.
const Canary = "GATE-CANARY-5e1f0c7a9b"

// hostileCase is one case.yaml.
type hostileCase struct {
	Name        string `yaml:"-"`
	Dir         string `yaml:"-"`
	Description string `yaml:"description"`
	Category    string `yaml:"category"`
	// Envs selects environments by name (default all).
	Envs     []string       `yaml:"envs"`
	Limits   caseLimits     `yaml:"limits"`
	Generate []generateSpec `yaml:"generate"`
	Expect   []expectation  `yaml:"expect"`
	// GitExpect replaces Expect when the case is read from a git commit,
	// where a source reports a limit at a different place.
	GitExpect []expectation `yaml:"gitExpect"`
	// ExpectError is a substring of the error that stops the run (exit 2).
	ExpectError string `yaml:"expectError"`
	// Exit is the exit code gate check gives: 0 pass, 1 fail, 2 error.
	Exit int `yaml:"exit"`
	// Deadline bounds the whole case, wall clock (default 20s).
	Deadline string `yaml:"deadline"`
	// Resources is the number of rendered objects expected, when set.
	Resources *int `yaml:"resources"`
	// AllowOther lets error findings beyond the expected ones pass; by
	// default any other error finding fails the case.
	AllowOther bool         `yaml:"allowOtherErrors"`
	Webhook    *webhookCase `yaml:"webhook"`
}

type caseLimits struct {
	MaxFileSize   int64  `yaml:"maxFileSize"`
	MaxDocuments  int    `yaml:"maxDocuments"`
	MaxDepth      int    `yaml:"maxDepth"`
	MaxNodes      int    `yaml:"maxNodes"`
	RenderTimeout string `yaml:"renderTimeout"`
	PolicyTimeout string `yaml:"policyTimeout"`
}

// generateSpec makes a file too big to check in.
type generateSpec struct {
	// Kind: big-document (one ConfigMap of Size bytes), many-documents
	// (Count small documents), deep-nesting (Count levels of block maps),
	// deep-flow (Count nested flow sequences), fifo (a named pipe).
	Kind  string `yaml:"kind"`
	Path  string `yaml:"path"`
	Size  int    `yaml:"size"`
	Count int    `yaml:"count"`
}

// expectation is one finding the case must produce.
type expectation struct {
	Rule     string `yaml:"rule"`
	File     string `yaml:"file"`
	Line     int    `yaml:"line"`
	Message  string `yaml:"message"`
	Severity string `yaml:"severity"`
	Env      string `yaml:"env"`
}

// webhookCase is a delivery to the App's webhook handler.
type webhookCase struct {
	Event string `yaml:"event"`
	// Body is a file of the case directory; BodySize generates a body of
	// that many bytes instead.
	Body     string `yaml:"body"`
	BodySize int    `yaml:"bodySize"`
	// Signature: valid, none, wrong or malformed.
	Signature string `yaml:"signature"`
	Status    int    `yaml:"status"`
	// Response is a substring of the response body.
	Response string `yaml:"response"`
}

func loadCases(t *testing.T) []*hostileCase {
	t.Helper()
	ents, err := os.ReadDir(corpus)
	if err != nil {
		t.Fatal(err)
	}
	var out []*hostileCase
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(corpus, e.Name())
		b, err := os.ReadFile(filepath.Join(dir, "case.yaml"))
		if err != nil {
			t.Fatalf("%s: every case needs a case.yaml: %v", e.Name(), err)
		}
		var c hostileCase
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil {
			t.Fatalf("%s/case.yaml: %v", e.Name(), err)
		}
		c.Name, c.Dir = e.Name(), dir
		if c.Description == "" || c.Category == "" {
			t.Fatalf("%s/case.yaml: description and category are required", e.Name())
		}
		if c.Webhook == nil && len(c.Expect) == 0 && c.ExpectError == "" && c.Exit != 0 {
			t.Fatalf("%s/case.yaml: a failing case must say which finding it expects", e.Name())
		}
		out = append(out, &c)
	}
	return out
}

func (c *hostileCase) deadline() time.Duration {
	if c.Deadline == "" {
		return 20 * time.Second
	}
	d, err := time.ParseDuration(c.Deadline)
	if err != nil {
		panic(fmt.Sprintf("%s: deadline: %v", c.Name, err))
	}
	return d
}

func mustDuration(s string) time.Duration {
	if s == "" {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return d
}

// materialize copies the case's repo (and base, when it has one) into a
// temporary directory, keeping symlinks as they are and replacing
// {{LOOPBACK}} with the net guard's address and {{OUTSIDE}} with the
// absolute path of the planted directory outside the repo, plants the canary outside the
// repo and in its .git directory, and generates the big files.
func (c *hostileCase) materialize(t *testing.T, loopback string) (root string) {
	t.Helper()
	root = t.TempDir()
	for _, side := range []string{"repo", "base"} {
		src := filepath.Join(c.Dir, side)
		if _, err := os.Stat(src); err != nil {
			continue
		}
		if err := copyTree(src, filepath.Join(root, side), loopback, filepath.Join(root, "outside")); err != nil {
			t.Fatal(err)
		}
		git := filepath.Join(root, side, ".git")
		mustWrite(t, filepath.Join(git, "config"), "[core]\n\trepositoryformatversion = 0\n[credential]\n\ttoken = "+Canary+"\n")
		mustWrite(t, filepath.Join(git, "HEAD"), "ref: refs/heads/main\n")
	}
	mustWrite(t, filepath.Join(root, "outside", "secret.yaml"), canarySecret("outside"))
	mustWrite(t, filepath.Join(root, "outside", "kustomization.yaml"), "resources:\n  - secret.yaml\n")
	// A JSON schema a $ref could load: its const puts the canary into any
	// validation error.
	mustWrite(t, filepath.Join(root, "outside", "schema.json"), `{"type": "object", "properties": {"replicas": {"const": "`+Canary+`"}}, "required": ["replicas"]}`+"\n")
	for _, g := range c.Generate {
		p := filepath.Join(root, "repo", filepath.FromSlash(g.Path))
		if g.Kind == "fifo" {
			if err := syscall.Mkfifo(p, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		mustWrite(t, p, generate(g))
	}
	return root
}

// canarySecret is a Secret holding the canary.
func canarySecret(name string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\nstringData:\n  token: %s\n", name, Canary)
}

func generate(g generateSpec) string {
	var b strings.Builder
	switch g.Kind {
	case "big-document":
		buf := make([]byte, 0, g.Size+128)
		buf = append(buf, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\ndata:\n"...)
		value := []byte(": " + strings.Repeat("x", 90) + "\n")
		for i := 0; len(buf) < g.Size; i++ {
			buf = append(buf, "  k"...)
			buf = strconv.AppendInt(buf, int64(i), 10)
			buf = append(buf, value...)
		}
		return string(buf)
	case "many-documents":
		for i := 0; i < g.Count; i++ {
			fmt.Fprintf(&b, "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm%d\n", i)
		}
	case "deep-nesting":
		b.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: deep\n  annotations:\n")
		for i := 0; i < g.Count; i++ {
			b.WriteString(strings.Repeat(" ", 4+i))
			b.WriteString("a:\n")
		}
		b.WriteString(strings.Repeat(" ", 4+g.Count) + "b: c\n")
	case "deep-flow":
		b.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: deep\ndata:\n  x: ")
		b.WriteString(strings.Repeat("[", g.Count))
		b.WriteString(strings.Repeat("]", g.Count))
		b.WriteString("\n")
	case "deep-json":
		b.WriteString(strings.Repeat(`{"a":`, g.Count))
		b.WriteString("1")
		b.WriteString(strings.Repeat("}", g.Count))
	default:
		panic("unknown generator " + g.Kind)
	}
	return b.String()
}

func mustWrite(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func copyTree(src, dst, loopback, outside string) error {
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
		b = bytes.ReplaceAll(b, []byte("{{LOOPBACK}}"), []byte(loopback))
		if outside != "" {
			b = bytes.ReplaceAll(b, []byte("{{OUTSIDE}}"), []byte(filepath.ToSlash(outside)))
		}
		return os.WriteFile(to, b, 0o644)
	})
}
