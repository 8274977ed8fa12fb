package hostile

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gate-ops/gate/internal/testing/kerneltrace"
)

// TestCorpusKernelTrace runs the whole corpus (TestHostileCorpus) again in
// a new, empty network namespace under strace, and judges what the kernel
// saw, whichever library made the call and whatever hook it went around:
// no connect of any kind, no open of a file planted outside a case's repo
// (outside/secret.yaml, outside/schema.json, …, resolved by the kernel
// through any symlink), of /etc/passwd or of a process's environment, and
// no program but the test binary and the git the harness commits with.
// The corpus must also pass there. Skipped, saying why, where the machine
// allows no network namespace or has no strace.
func TestCorpusKernelTrace(t *testing.T) {
	if kerneltrace.Child() {
		t.Skip("this is the traced run")
	}
	if testing.Short() {
		t.Skip("-short: the kernel-side trace of the corpus runs in the full suite")
	}
	if why := kerneltrace.Unavailable(); why != "" {
		fmt.Fprintf(os.Stderr, "TestCorpusKernelTrace skipped: %s\n", why)
		t.Skip(why)
	}
	tmp := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	res, err := kerneltrace.Run(ctx, os.Args[0], []string{"-test.run", "^TestHostileCorpus$", "-test.count=1", "-test.timeout=10m"}, append(cleanEnv, "TMPDIR="+tmp))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("traced corpus run took %s: %d connects, %d opens, %d programs", res.Took.Round(time.Millisecond), len(res.Connects), len(res.Opens), len(res.Execs))
	if res.Err != nil {
		t.Errorf("the corpus fails in the network namespace: %v\n%s", res.Err, tail(res.Output, 8000))
	}
	for _, v := range kernelViolations(res, os.Args[0], tmp) {
		t.Error(v)
	}
}

// kernelViolations lists what the trace holds that no case may cause.
func kernelViolations(res *kerneltrace.Result, binary, tmp string) []string {
	var out []string
	for _, c := range res.Connects {
		out = append(out, "connect: "+c)
	}
	for _, o := range res.Opens {
		if kerneltrace.Forbidden(o, tmp) {
			out = append(out, fmt.Sprintf("a planted file was opened by %s: %s (%s)", o.Program, o.Path, o.Line))
		}
	}
	for _, e := range res.Execs {
		if e == binary || allowedProgram(e) {
			continue
		}
		out = append(out, "program run: "+e)
	}
	return out
}

// allowedProgram: the harness commits cases with the real git (git runs
// its own helpers from its exec path).
func allowedProgram(p string) bool {
	if realGit != "" && p == realGit {
		return true
	}
	return strings.HasPrefix(p, "/usr/lib/git-core/") || strings.HasPrefix(p, "/usr/libexec/git-core/")
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
