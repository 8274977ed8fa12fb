package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gate-ops/gate/internal/testing/kerneltrace"
)

// sideDoorPrefixes name the hostile cases that try to make gate read a file
// outside the repo or reach the network: through a symlink, a path, a
// remote base, a Helm values.schema.json $ref, an OPA METADATA schema,
// http.send, a Helm lookup or Files.Get.
var sideDoorPrefixes = []string{"helm-schema-", "rego-metadata-schema-", "gatekeeper-", "symlink-", "remote-", "path-",
	"helm-files-get-outside", "helm-symlink-outside-chart", "helm-lookup", "rego-http-send", "rego-net-lookup"}

// TestHostileSideDoorsCLI runs `gate check` (in process, and for the
// renderer's side doors again with --isolate, where each environment
// renders in a worker process) on every side-door case of testdata/hostile: the exit code is the case's, the
// canary planted outside the repo reaches no output, and the listener
// {{LOOPBACK}} names is never contacted. TestCLIKernelTrace runs this
// test again in an empty network namespace under strace.
func TestHostileSideDoorsCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	dirs, err := filepath.Glob(filepath.Join("..", "..", "testdata", "hostile", "*"))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var contacts []string
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			contacts = append(contacts, c.RemoteAddr().String())
			mu.Unlock()
			c.Close()
		}
	}()
	defer ln.Close()
	n := 0
	for _, d := range dirs {
		name := filepath.Base(d)
		if !sideDoor(name) {
			continue
		}
		var c struct {
			Exit     int            `yaml:"exit"`
			Generate []any          `yaml:"generate"`
			Envs     []string       `yaml:"envs"`
			Limits   map[string]any `yaml:"limits"`
		}
		b, err := os.ReadFile(filepath.Join(d, "case.yaml"))
		if err != nil {
			continue // not a repo case
		}
		if err := yaml.Unmarshal(b, &c); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := os.Stat(filepath.Join(d, "base")); err == nil || len(c.Generate) > 0 || len(c.Envs) > 0 || len(c.Limits) > 0 {
			continue // the corpus runner covers these
		}
		n++
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			outside := filepath.Join(root, "outside")
			plantOutside(t, outside)
			repo := filepath.Join(root, "repo")
			if err := copySubst(filepath.Join(d, "repo"), repo, strings.NewReplacer("{{LOOPBACK}}", ln.Addr().String(), "{{OUTSIDE}}", outside)); err != nil {
				t.Fatal(err)
			}
			modes := []bool{false}
			if isolatedSideDoor(name) {
				modes = append(modes, true)
			}
			for _, isolate := range modes {
				args := []string{"--repo", repo, "-v"}
				if isolate {
					args = append(args, "--isolate")
				}
				report := filepath.Join(t.TempDir(), "report.json")
				// The schema stage reads only gate's embedded schemas
				// here (no case names schemas.paths): left out, it is
				// most of a run's time.
				args = append(args, "check", "--no-schema", "-o", "text", "-o", "json="+report)
				stdout, stderr, code := runGate(t, args...)
				if code != c.Exit {
					t.Errorf("gate %s: exit %d, want %d\n%s%s", strings.Join(args[2:], " "), code, c.Exit, stdout, tailString(stderr, 3000))
				}
				rb, _ := os.ReadFile(report)
				for what, out := range map[string]string{"stdout": stdout, "stderr": stderr, "report.json": string(rb)} {
					for _, l := range append(canaryLeaks(), "root:x:0:0") {
						if strings.Contains(out, l) {
							t.Errorf("isolate=%v: %s leaks %q", isolate, what, l)
						}
					}
				}
			}
		})
	}
	if n < 40 {
		t.Errorf("%d side-door cases ran, want at least 40", n)
	}
	time.Sleep(50 * time.Millisecond) // let the listener record a late dial
	mu.Lock()
	defer mu.Unlock()
	if len(contacts) > 0 {
		t.Errorf("the loopback listener was contacted %d times: %v", len(contacts), contacts)
	}
}

// isolatedSideDoor: the cases whose side door is in the renderer (Helm's
// schema loaders, Files.Get, lookup, a remote chart, a symlink to a host
// file) run again with --isolate, where the render happens in a worker
// process in its own network namespace.
func isolatedSideDoor(name string) bool {
	return strings.HasPrefix(name, "helm-") || strings.HasPrefix(name, "remote-helm-") || name == "remote-https" || name == "symlink-etc-passwd" || name == "path-absolute-helm-values"
}

func sideDoor(name string) bool {
	for _, p := range sideDoorPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// plantOutside writes what internal/testing/hostile plants next to a
// case's repo: a Secret holding the canary, a kustomization naming it and
// a JSON schema whose const would carry the canary into an error.
func plantOutside(t *testing.T, dir string) {
	t.Helper()
	files := map[string]string{
		"secret.yaml":        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: outside\nstringData:\n  token: " + hostileCanary + "\n",
		"kustomization.yaml": "resources:\n  - secret.yaml\n",
		"schema.json":        `{"type": "object", "properties": {"replicas": {"const": "` + hostileCanary + `"}}, "required": ["replicas"]}` + "\n",
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for n, s := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// copySubst copies a case's tree as copyDir does, filling in the
// placeholders.
func copySubst(src, dst string, r *strings.Replacer) error {
	return copyTree(src, dst, func(b []byte) []byte { return []byte(r.Replace(string(b))) })
}

func tailString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// TestCLIKernelTrace runs TestHostileSideDoorsCLI (gate check on every
// side-door case, the renderer's again with --isolate) again in an empty
// network namespace under strace: no connect by
// gate or its render workers, no open of the planted files, /etc/passwd or
// a process's environment, no program but the test binary itself (its
// render workers) and the git the test builds repos with. Skipped, saying
// why, where the machine allows no network namespace or has no strace.
func TestCLIKernelTrace(t *testing.T) {
	if kerneltrace.Child() {
		t.Skip("this is the traced run")
	}
	if testing.Short() {
		t.Skip("-short")
	}
	if why := kerneltrace.Unavailable(); why != "" {
		fmt.Fprintf(os.Stderr, "TestCLIKernelTrace skipped: %s\n", why)
		t.Skip(why)
	}
	tmp := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	res, err := kerneltrace.Run(ctx, os.Args[0], []string{"-test.run", "^TestHostileSideDoorsCLI$", "-test.count=1", "-test.timeout=10m"}, append(os.Environ(), "TMPDIR="+tmp))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("traced CLI run took %s: %d connects, %d opens, %d programs", res.Took.Round(time.Millisecond), len(res.Connects), len(res.Opens), len(res.Execs))
	if res.Err != nil {
		t.Errorf("the CLI tests fail in the network namespace: %v\n%s", res.Err, tailString(res.Output, 8000))
	}
	for _, c := range res.Connects {
		t.Errorf("connect: %s", c)
	}
	for _, o := range res.Opens {
		if kerneltrace.Forbidden(o, tmp) {
			t.Errorf("a planted file was opened by %s: %s", o.Program, o.Line)
		}
	}
	progs := map[string]int{}
	for _, e := range res.Execs {
		progs[e]++
	}
	var names []string
	for p := range progs {
		names = append(names, p)
	}
	sort.Strings(names)
	for _, p := range names {
		if p == os.Args[0] || strings.HasSuffix(p, "/git") || strings.Contains(p, "/git-core/") {
			continue
		}
		t.Errorf("program run %d times: %s", progs[p], p)
	}
}
