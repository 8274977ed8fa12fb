package sandbox

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/render"
	"github.com/gate-ops/gate/checks/source"
	"github.com/gate-ops/gate/internal/gitsrc"
	"github.com/gate-ops/gate/internal/testing/gittest"
)

// The test binary is its own worker: TestMain serves a render request
// when started with GATE_SANDBOX_WORKER=1, as gate's hidden subcommand does.
func TestMain(m *testing.M) {
	if os.Getenv("GATE_SANDBOX_WORKER") == "1" {
		if err := Serve(context.Background(), os.Stdin, os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func runner(mem int64) *Runner {
	return &Runner{Command: []string{os.Args[0]}, Env: append(minimalEnv(), "GATE_SANDBOX_WORKER=1"), Memory: mem}
}

const example = "../../testdata/example"

// TestIsolatedRenderMatchesInProcess: the worker's result is the same
// environment, origins included, and findings still locate through
// patches (the location data crosses the process boundary).
func TestIsolatedRenderMatchesInProcess(t *testing.T) {
	dir, err := source.OpenDir(example, 0)
	if err != nil {
		t.Fatal(err)
	}
	r := gittest.New(t)
	r.CopyTreeInto(example, "deploy")
	r.Commit("ops")
	repo, err := gitsrc.Open(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := gitsrc.FromRev(repo, "HEAD", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []source.Source{dir, gitsrc.Sub(tree, "deploy")} {
		envs, _ := render.Discover(src, nil)
		plain := render.New(render.Options{}).RenderAll(context.Background(), src, envs)
		iso := render.New(render.Options{Isolate: runner(0)}).RenderAll(context.Background(), src, envs)
		for i := range plain {
			a, b := plain[i], iso[i]
			if len(a.Resources) == 0 || len(a.Resources) != len(b.Resources) || len(b.Findings) != len(a.Findings) {
				t.Fatalf("%s: in process %d resources %v, isolated %d resources %v", a.Env.Name, len(a.Resources), a.Findings, len(b.Resources), b.Findings)
			}
			for j := range a.Resources {
				ra, rb := a.Resources[j], b.Resources[j]
				if ra.ID != rb.ID || ra.Origin != rb.Origin || string(ra.YAML) != string(rb.YAML) {
					t.Errorf("%s: resource %d differs: %v %v vs %v %v", a.Env.Name, j, ra.ID, ra.Origin, rb.ID, rb.Origin)
				}
				for _, p := range [][]string{{"spec", "replicas"}, {"metadata", "name"}} {
					if la, lb := a.Locate(ra, p), b.Locate(rb, p); la != lb {
						t.Errorf("%s %s %v: Locate in process %v, isolated %v", a.Env.Name, ra.ID, p, la, lb)
					}
				}
			}
		}
	}
}

// TestIsolatedRunawayChartIsKilled: a chart that loops past the deadline,
// and one that allocates past the memory budget, end as findings naming
// the limit, and no worker is left running.
func TestIsolatedRunawayChartIsKilled(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, content string) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("charts/loop/Chart.yaml", "apiVersion: v2\nname: loop\nversion: 0.1.0\n")
	write("charts/loop/templates/cm.yaml", "{{- range $i := until 1000000 }}{{- range $j := until 1000000 }}{{ end }}{{ end }}\n")
	write("charts/hog/Chart.yaml", "apiVersion: v2\nname: hog\nversion: 0.1.0\n")
	write("charts/hog/templates/cm.yaml", "{{- $s := \"x\" }}{{- range $i := until 40 }}{{- $s = print $s $s }}{{ end }}{{ len $s }}\n")
	write("loop/kustomization.yaml", "helmGlobals:\n  chartHome: ../charts\nhelmCharts:\n  - name: loop\n")
	write("hog/kustomization.yaml", "helmGlobals:\n  chartHome: ../charts\nhelmCharts:\n  - name: hog\n")
	src, err := source.OpenDir(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The worker's log says it ended by a signal: the parent killed it (the
	// in-process renderer would stop the loop itself and log nothing).
	var logs strings.Builder
	var logMu sync.Mutex
	logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		logMu.Lock()
		defer logMu.Unlock()
		return logs.Write(p)
	}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	for _, tc := range []struct {
		env, rule, limit string
		timeout          time.Duration
	}{
		{"loop", "render/timeout", "--render-timeout", 3 * time.Second},
		// A generous deadline: the budget, not the clock, must stop it
		// (the race detector slows the copying down a lot).
		{"hog", "render/memory", "--render-memory", 60 * time.Second},
	} {
		iso := runner(64 << 20)
		iso.Logger = logger
		r := render.New(render.Options{Isolate: iso, Timeout: tc.timeout})
		start := time.Now()
		res := r.Render(context.Background(), src, checks.Env{Name: tc.env, Path: tc.env})
		took := time.Since(start)
		if len(res.Findings) != 1 || res.Findings[0].RuleID != tc.rule || !strings.Contains(res.Findings[0].Message, tc.limit) {
			t.Errorf("%s: findings %v, want one %s naming %s", tc.env, res.Findings, tc.rule, tc.limit)
		}
		if took > tc.timeout+5*time.Second {
			t.Errorf("%s: took %s, the worker was not stopped at its limit", tc.env, took)
		}
	}
	logMu.Lock()
	defer logMu.Unlock()
	if !strings.Contains(logs.String(), `env=loop`) || !strings.Contains(logs.String(), "signal: killed") {
		t.Errorf("the looping chart's worker was not killed:\n%s", logs.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestWorkerHasNoNetwork: a worker runs in a network namespace of its own,
// with no interface but loopback (down): whatever a chart's schema, a
// kustomize remote or a library's loader asks for, nothing leaves the
// worker. (Skipped, saying why, where the machine allows no namespace.)
func TestWorkerHasNoNetwork(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("network namespaces are Linux only")
	}
	own, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r := &Runner{Command: []string{"/bin/sh", "-c", "readlink /proc/self/ns/net; tail -n +3 /proc/net/dev | cut -d: -f1; cat /sys/class/net/lo/operstate"}, Env: minimalEnv()}
	out, err := r.RenderIsolated(ctx, source.Spec{}, checks.Env{Name: "x"}, render.WorkerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Isolated() {
		fmt.Fprintln(os.Stderr, "TestWorkerHasNoNetwork skipped: this machine allows no network namespace")
		t.Skip("this machine allows no network namespace; workers share the server's network (logged)")
	}
	lines := strings.Fields(string(out))
	if len(lines) < 2 || lines[0] == own {
		t.Fatalf("the worker is in the server's network namespace %s: %q", own, out)
	}
	for _, l := range lines[1 : len(lines)-1] {
		if l != "lo" {
			t.Errorf("the worker's namespace has the interface %q", l)
		}
	}
	if st := lines[len(lines)-1]; st != "down" && st != "unknown" {
		t.Errorf("the worker's loopback is %s", st)
	}
	shared := &Runner{Command: r.Command, Env: minimalEnv(), SharedNetwork: true}
	out, err = shared.RenderIsolated(ctx, source.Spec{}, checks.Env{Name: "x"}, render.WorkerOptions{})
	if err != nil || strings.Fields(string(out))[0] != own {
		t.Errorf("SharedNetwork: worker in %q (%v), want the server's %s", out, err, own)
	}
}
