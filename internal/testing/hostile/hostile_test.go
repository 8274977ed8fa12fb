package hostile

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/engine"
	"github.com/gate-ops/gate/checks/policy"
	"github.com/gate-ops/gate/checks/render"
	"github.com/gate-ops/gate/checks/report"
	"github.com/gate-ops/gate/checks/schema"
	"github.com/gate-ops/gate/checks/source"
	"github.com/gate-ops/gate/internal/testing/kerneltrace"
)

var guard *NetGuard

// cleanEnv is the environment the test started with (the guard changes
// PATH, HOME and the proxies; a traced re-run installs its own guard).
var cleanEnv []string

func TestMain(m *testing.M) {
	if kerneltrace.Child() {
		// Re-run by TestCorpusKernelTrace: in an empty network namespace,
		// under strace.
		if err := kerneltrace.ChildSetup(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	cleanEnv = os.Environ() // before the guard changes it
	dir, err := os.MkdirTemp("", "gate-hostile-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	realGit, _ = exec.LookPath("git")
	guard, err = InstallNetGuard(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	code := m.Run()
	_ = guard.Close()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// syncBuffer collects log lines from concurrent renders.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// leaks are the strings no output may contain: the canary in clear, in
// base64, in hex and as the byte list %v prints, and the first line of
// /etc/passwd.
func leaks() []string {
	bytesList := strings.Trim(fmt.Sprint([]byte(Canary)), "[]") // what %v of a []byte prints
	return []string{Canary, base64.StdEncoding.EncodeToString([]byte(Canary)), hex.EncodeToString([]byte(Canary)), bytesList, "root:x:0:0"}
}

// TestHostileCorpus runs every case of testdata/hostile through the engine
// with every stage, writes every report format and every check-run payload,
// and checks, under the guards: the expected findings with file and line,
// the exit code, no crash, no hang, no read outside the repo, no network,
// no program run, no canary in any output or log line.
func TestHostileCorpus(t *testing.T) {
	cases := loadCases(t)
	_ = guard.Events() // start clean
	n := 0
	// The cases run in parallel; what cannot be told apart per case (the
	// net guard, goroutines left running) is checked once they all ended.
	t.Run("case", func(t *testing.T) {
		for _, c := range cases {
			if c.Webhook != nil {
				continue
			}
			n++
			t.Run(c.Name, func(t *testing.T) {
				t.Parallel()
				runCase(t, c, false)
				if c.gitable() {
					t.Run("git", func(t *testing.T) { runCase(t, c, true) })
				}
			})
		}
	})
	if n < 40 {
		t.Errorf("the corpus has %d repo cases, want at least 40", n)
	}
	checkNoLeftoverWork(t)
	if ev := guard.Events(); len(ev) > 0 {
		t.Errorf("network or program use during the corpus: %v", ev)
	}
}

// runCase runs one case on the work tree, or (fromGit) on a commit read
// from the git object store, the way a pull request's head and base are.
func runCase(t *testing.T, c *hostileCase, fromGit bool) {
	root := c.materialize(t, guard.Addr)
	repoDir := filepath.Join(root, "repo")
	watched := []string{filepath.Join(root, "outside")}
	if !fromGit { // go-git reads .git legitimately
		watched = append(watched, filepath.Join(repoDir, ".git"))
	}
	hasBase := false
	if _, err := os.Stat(filepath.Join(root, "base")); err == nil {
		hasBase = true
		if !fromGit {
			watched = append(watched, filepath.Join(root, "base", ".git"))
		}
	}
	watch, err := WatchOpens(watched...)
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close()

	deadline := c.deadline()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	start := time.Now()

	var logs syncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	open := func(dir string) *TracingSource {
		if fromGit {
			return NewTracingSource(commitSource(t, dir, c.Limits.MaxFileSize))
		}
		d, err := source.OpenDir(dir, c.Limits.MaxFileSize)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		return NewTracingSource(d)
	}
	head := open(repoDir)
	trusted := head
	var base *TracingSource
	if hasBase {
		base = open(filepath.Join(root, "base"))
		trusted = base
	}

	exit, rep, runErr := runEngine(ctx, c, head, base, trusted, log)
	elapsed := time.Since(start)

	// Outputs: every report format, every check-run payload, the logs.
	outputs := map[string]string{"log": logs.String()}
	if runErr != nil {
		outputs["error"] = runErr.Error()
	}
	if rep != nil {
		for _, f := range report.FormatNames() {
			var b bytes.Buffer
			if err := report.Write(&b, f, rep, report.Options{Command: "gate check", ToolVersion: "test"}); err != nil {
				t.Errorf("write %s report: %v", f, err)
			}
			outputs[f] = b.String()
		}
		for i := range rep.Envs {
			cr := report.EnvCheckRun(rep, &rep.Envs[i], report.CheckRunOptions{DetailsURL: "https://gate.example/r"})
			b, err := json.Marshal(cr)
			if err != nil {
				t.Fatal(err)
			}
			outputs["check-run "+rep.Envs[i].Env.Name] = string(b)
		}
	}

	if elapsed > deadline+5*time.Second {
		t.Errorf("case took %s, over its deadline of %s", elapsed, deadline)
	}
	if exit != c.Exit {
		t.Errorf("exit code %d, want %d (error: %v)\n%s", exit, c.Exit, runErr, outputs["text"])
	}
	if c.ExpectError != "" && (runErr == nil || !strings.Contains(runErr.Error(), c.ExpectError)) {
		t.Errorf("run error %v, want one containing %q", runErr, c.ExpectError)
	}
	if runErr != nil && c.ExpectError == "" {
		t.Errorf("run failed: %v", runErr)
	}
	var all []checks.Finding
	if rep != nil {
		all = append(all, rep.Findings...)
		for _, e := range rep.Envs {
			all = append(all, e.Findings...)
		}
	}
	expect := c.Expect
	if fromGit && c.GitExpect != nil {
		expect = c.GitExpect
	}
	checkFindings(t, c, expect, all)
	if c.Resources != nil && rep != nil {
		got := 0
		for _, e := range rep.Envs {
			got += e.Resources
		}
		if got != *c.Resources {
			t.Errorf("%d resources rendered, want %d", got, *c.Resources)
		}
	}
	if rep != nil && len(rep.Envs) > 0 && !strings.Contains(outputs["log"], `"level":"DEBUG"`) {
		t.Errorf("no debug log line was captured, so the log was not checked:\n%s", outputs["log"])
	}
	for name, out := range outputs {
		for _, l := range leaks() {
			if strings.Contains(out, l) {
				t.Errorf("%s output leaks %q:\n%s", name, l, excerpt(out, l))
			}
		}
	}
	checkEscaped(t, outputs)
	for src, dir := range map[*TracingSource]string{head: repoDir, base: filepath.Join(root, "base")} {
		if src == nil {
			continue
		}
		if v := src.Violations(dir); len(v) > 0 {
			t.Errorf("read outside the repo:\n%s", strings.Join(v, "\n"))
		}
	}
	if ev := watch.Events(); len(ev) > 0 {
		t.Errorf("files outside the repo or in .git were opened: %v", ev)
	}
	if testing.Verbose() {
		t.Logf("%s: exit %d in %s, %d findings, %d file accesses", c.Category, exit, elapsed.Round(time.Millisecond), len(all), len(head.Accesses()))
	}
}

// checkNoLeftoverWork waits for the renderer and policy goroutines a
// case started to end: a render abandoned at its deadline that keeps
// running is a hang the caller no longer sees (in gate serve, one more per
// hostile push).
func checkNoLeftoverWork(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		busy := busyGoroutines()
		if len(busy) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%d renderer or policy goroutines still running 5s after the case:\n%s", len(busy), strings.Join(busy, "\n\n"))
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// busyGoroutines returns the stacks of goroutines inside Helm's engine,
// kustomize or OPA's evaluator.
func busyGoroutines() []string {
	buf := make([]byte, 4<<20)
	n := runtime.Stack(buf, true)
	var busy []string
	for _, g := range strings.Split(string(buf[:n]), "\n\n") {
		if strings.Contains(g, "helm.sh/helm") || strings.Contains(g, "sigs.k8s.io/kustomize/api/krusty") || strings.Contains(g, "opa/v1/topdown") {
			busy = append(busy, g)
		}
	}
	return busy
}

// The schema stage and the built-in policies are the same for every case
// that brings no CRD directory and no policy of its own: built once.
var (
	sharedSchemaOnce = sync.OnceValue(func() engine.Stage {
		st, _, err := schema.New(schema.Options{})
		if err != nil {
			panic(err)
		}
		return st
	})
	sharedPolicyOnce = sync.OnceValue(func() engine.Stage {
		st, finds := policy.Load(context.Background(), source.NewMem("empty", nil), &config.Config{}, policy.Options{})
		if len(finds) > 0 {
			panic(fmt.Sprint(finds))
		}
		return st
	})
)

func sharedSchema(context.Context) engine.Stage { return sharedSchemaOnce() }

func sharedPolicy(context.Context) engine.Stage { return sharedPolicyOnce() }

// runEngine is `gate check` (with --base when the case has a base) minus
// cobra: gate.yaml and policies from the trusted side, the schema and
// policy stages, the engine. It returns the exit code gate would give.
func runEngine(ctx context.Context, c *hostileCase, head, base, trusted *TracingSource, log *slog.Logger) (int, *checks.Report, error) {
	cfg, _, err := config.Load(trusted, "")
	if err != nil {
		return 2, nil, err
	}
	var st engine.Stage
	var finds, pfinds []checks.Finding
	if len(cfg.Schemas.Paths) == 0 {
		st = sharedSchema(ctx)
	} else if st, finds, err = schema.New(schema.Options{Config: cfg.Schemas, Source: trusted}); err != nil {
		return 2, nil, err
	}
	var pst engine.Stage
	// The shared built-in stage only stands in for a configuration that
	// does not shape the policies (a base that re-grades a rule must be
	// judged with its grades).
	pc := cfg.Policies
	if len(policy.PolicyDirs(trusted, cfg)) == 0 && c.Limits.PolicyTimeout == "" && len(pc.Rules) == 0 && len(pc.RequiredLabels) == 0 && pc.Builtin == "" && len(pc.Data) == 0 {
		pst = sharedPolicy(ctx)
	} else {
		pst, pfinds = policy.Load(ctx, trusted, cfg, policy.Options{Timeout: mustDuration(c.Limits.PolicyTimeout), Logger: log})
	}
	lim := render.DefaultLimits()
	if c.Limits.MaxDocuments > 0 {
		lim.MaxDocuments = c.Limits.MaxDocuments
	}
	if c.Limits.MaxDepth > 0 {
		lim.MaxDepth = c.Limits.MaxDepth
	}
	if c.Limits.MaxNodes > 0 {
		lim.MaxNodes = c.Limits.MaxNodes
	}
	req := &engine.Request{
		Head: head, Config: cfg, Envs: c.Envs, FailOn: checks.SeverityError,
		Stages:   []engine.Stage{st, pst},
		Findings: append(finds, pfinds...),
		Render:   render.Options{Limits: lim, Timeout: mustDuration(c.Limits.RenderTimeout), Logger: log},
		Logger:   log,
		Progress: func(msg string) { log.Info("progress", "msg", msg) },
	}
	if base != nil {
		req.Base = base
		req.Incremental = c.Incremental
	}
	rep, err := engine.Run(ctx, req)
	if err != nil {
		return 2, nil, err
	}
	if !rep.Pass {
		return 1, rep, nil
	}
	return 0, rep, nil
}

// checkFindings matches every expectation to a finding, and refuses error
// findings nobody expected (a crash or a stage error hides there).
func checkFindings(t *testing.T, c *hostileCase, expect []expectation, all []checks.Finding) {
	t.Helper()
	used := map[int]bool{}
	for _, want := range expect {
		sev := checks.SeverityError
		if want.Severity != "" {
			var err error
			if sev, err = checks.ParseSeverity(want.Severity); err != nil {
				t.Fatal(err)
			}
		}
		found := false
		for i, f := range all {
			if f.RuleID == want.Rule && f.Origin.File == want.File && f.Origin.Line == want.Line &&
				strings.Contains(f.Message, want.Message) && f.Severity == sev && (want.Env == "" || f.Env == want.Env) {
				found, used[i] = true, true
				break
			}
		}
		if !found {
			t.Errorf("missing finding %s at %s:%d containing %q; got:\n%s", want.Rule, want.File, want.Line, want.Message, list(all))
		}
	}
	for i, f := range all {
		if strings.Contains(f.Message, "crashed") || strings.Contains(f.Message, "panicked") {
			t.Errorf("a crash became a finding: %s", f)
		}
		if !used[i] && f.Severity == checks.SeverityError && !c.AllowOther {
			t.Errorf("unexpected error finding: %s", f)
		}
		if f.Severity == checks.SeverityError && f.Origin.File == "" {
			t.Errorf("error finding without a file: %s", f)
		}
		if len(f.Message) > 4096 {
			t.Errorf("a %d-byte finding message is not a clear finding: %.300s…", len(f.Message), f.Message)
		}
	}
}

func list(fs []checks.Finding) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "  %s\n", f)
	}
	return b.String()
}

func excerpt(s, sub string) string {
	i := strings.Index(s, sub)
	lo, hi := max(0, i-200), min(len(s), i+len(sub)+200)
	return s[lo:hi]
}

var codeSpan = regexp.MustCompile("`+[^`]*`+")

// checkEscaped asserts what every reader relies on, for every case of the
// corpus: no control, escape or bidi character in a terminal format or a
// check-run payload; no raw HTML from the pull request in markdown; every
// workflow command line is gate's own; every SARIF URI is a plain
// relative path.
func checkEscaped(t *testing.T, outputs map[string]string) {
	t.Helper()
	for name, out := range outputs {
		switch {
		case name == "text" || name == "github" || name == "markdown" || strings.HasPrefix(name, "check-run"):
			for i, r := range out {
				if r < 0x20 && r != '\n' || r == 0x7f || r >= 0x80 && r <= 0x9f || r == 0x2028 || r == 0x2029 || unicode.Is(unicode.Cf, r) {
					t.Errorf("%s output holds the hidden character %U: %q", name, r, out[max(0, i-30):min(len(out), i+30)])
					break
				}
			}
		}
		// (Check-run payloads are JSON here; checks/report's property
		// test holds them to the same rules.)
		if name == "markdown" {
			// Fenced code blocks (unified diffs) show their text as is.
			var kept []string
			fence := ""
			for _, l := range strings.Split(out, "\n") {
				switch {
				case fence != "" && strings.HasPrefix(l, fence):
					fence = ""
				case fence != "":
				case strings.HasPrefix(l, "```"):
					fence = l[:len(l)-len(strings.TrimLeft(l, "`"))]
				default:
					kept = append(kept, l)
				}
			}
			low := strings.ToLower(codeSpan.ReplaceAllString(strings.Join(kept, "\n"), ""))
			for _, bad := range []string{"<img", "<script", "<a href", "](https://evil", "<summary><img"} {
				if strings.Contains(low, bad) {
					t.Errorf("%s output holds raw markup %q: %s", name, bad, excerpt(out, bad))
				}
			}
		}
		if name == "text" {
			if n := strings.Count("\n"+out, "\nresult:"); n != 1 {
				t.Errorf("text output has %d result lines (a forged verdict):\n%s", n, out)
			}
		}
		if name == "github" && out != "" {
			for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
				if !strings.HasPrefix(l, "::error ") && !strings.HasPrefix(l, "::warning ") && !strings.HasPrefix(l, "::notice ") {
					t.Errorf("github output line is not gate's workflow command: %q", l)
				}
			}
		}
		if name == "sarif" {
			var log struct {
				Runs []struct {
					Results []struct {
						Locations []struct {
							PhysicalLocation struct {
								ArtifactLocation struct {
									URI string `json:"uri"`
								} `json:"artifactLocation"`
							} `json:"physicalLocation"`
						} `json:"locations"`
					} `json:"results"`
				} `json:"runs"`
			}
			if err := json.Unmarshal([]byte(out), &log); err != nil {
				t.Errorf("sarif: %v", err)
				continue
			}
			for _, r := range log.Runs {
				for _, res := range r.Results {
					for _, l := range res.Locations {
						uri := l.PhysicalLocation.ArtifactLocation.URI
						u, err := url.Parse(uri)
						if err != nil || u.Scheme != "" || u.Host != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
							t.Errorf("sarif URI %q is not a plain relative path (%v)", uri, err)
						}
					}
				}
			}
		}
	}
}
