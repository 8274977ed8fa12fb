package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/internal/testing/apptest"
)

// doorFinding is what every front door shows of a finding with a source line.
type doorFinding struct{ env, file, level, rule string }

func (f doorFinding) String() string {
	return fmt.Sprintf("%s %s %s %s", f.env, f.file, f.level, f.rule)
}

func levelOf(f checks.Finding) string {
	switch {
	case f.Waived != "":
		return "notice"
	case f.Severity == checks.SeverityError:
		return "failure"
	case f.Severity == checks.SeverityWarning:
		return "warning"
	}
	return "notice"
}

func sortedSet(fs []doorFinding) string {
	var out []string
	for _, f := range fs {
		out = append(out, f.String())
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

func jsonDoor(t *testing.T, out string) string {
	t.Helper()
	var rep checks.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not a JSON report: %v\n%s", err, out)
	}
	var fs []doorFinding
	for _, f := range rep.AllFindings() {
		if f.Env != "" && f.Origin.File != "" {
			line := max(f.Origin.Line, 1)
			level := levelOf(f)
			// Every door annotates a finding the base already had, and
			// that does not decide the verdict, as a notice.
			if f.Baseline == checks.BaselineExisting && !rep.Decides(f) {
				level = "notice"
			}
			fs = append(fs, doorFinding{f.Env, fmt.Sprintf("%s:%d", f.Origin.File, line), level, f.RuleID})
		}
	}
	return sortedSet(fs)
}

var ghaLine = regexp.MustCompile(`^::(error|warning|notice) file=([^,]*),line=(\d+)(?:,col=\d+)?,title=([^:]*)::`)

// TestFourDoorsSameFindings: the CLI, the Action's workflow commands, the
// pre-commit hook and the App's check runs give the same findings, on the
// same lines, for one pull request.
func TestFourDoorsSameFindings(t *testing.T) {
	w := serveWorld(t)
	head := w.Repo.Commit(w.Repo.Main, map[string][]byte{
		"overlays/prod/deployment-prod.yaml": []byte(readExample(t, "overlays/prod/deployment-prod.yaml") + "          image: ghcr.io/example/shop:latest\n"),
		"base/deployment.yaml":               []byte(strings.Replace(readExample(t, "base/deployment.yaml"), "memory: 128Mi", "memory: 192Mi", 1)),
	}, "prod: latest image; base: more memory")
	w.Repo.SetRef("refs/pull/7/head", head)
	w.Deliver("pull_request", w.PullRequest("opened", 7, head, time.Now()), []byte(apptest.Secret))
	w.WaitIdle(2 * time.Minute)

	// The App: annotations of every check run.
	var app []doorFinding
	titleRe := regexp.MustCompile(`^(?:(?:new|existing) )?\w+: (\S+) \((\S+)\)$`)
	runs := w.RunsFor(head)
	if len(runs) != 3 {
		t.Fatalf("check runs %v, want one per environment", keys(runs))
	}
	for name, cr := range runs {
		if cr.Status != "completed" {
			t.Fatalf("%s: %s", name, cr.Status)
		}
		for _, a := range cr.Annotations {
			m := titleRe.FindStringSubmatch(a.Title)
			if m == nil {
				t.Fatalf("%s: annotation title %q", name, a.Title)
			}
			app = append(app, doorFinding{m[2], fmt.Sprintf("%s:%d", a.Path, a.StartLine), a.Level, m[1]})
		}
	}

	// A clone, as a developer or a CI runner has it.
	dir := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("clone", "-q", w.Repo.Bare, ".")
	git("fetch", "-q", "origin", "refs/pull/7/head")
	git("-c", "advice.detachedHead=false", "checkout", "-q", head)

	cliOut, stderr, code := runGate(t, "--repo", dir, "check", "--base", "origin/main", "-o", "json")
	if code != 1 {
		t.Fatalf("CLI exit %d, want 1\n%s", code, stderr)
	}
	cli := jsonDoor(t, cliOut)

	ghaOut, _, code := runGate(t, "--repo", dir, "check", "--base", "origin/main", "-o", "github")
	if code != 1 {
		t.Fatalf("Action door exit %d, want 1", code)
	}
	var gha []doorFinding
	for _, l := range strings.Split(strings.TrimSpace(ghaOut), "\n") {
		m := ghaLine.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("not a workflow command: %q", l)
		}
		title, _ := url.PathUnescape(m[4])
		env, rule, _ := strings.Cut(title, ": ")
		rule, _, _ = strings.Cut(rule, " (") // "(new)", "(existing warning, ...)"
		level := map[string]string{"error": "failure", "warning": "warning", "notice": "notice"}[m[1]]
		gha = append(gha, doorFinding{env, m[2] + ":" + m[3], level, rule})
	}

	// pre-commit: main checked out, the change staged.
	git("-c", "advice.detachedHead=false", "checkout", "-q", w.Repo.Main)
	git("read-tree", head)
	stagedOut, stderr, code := runGate(t, append(append([]string{"--repo", dir}, preCommitEntry(t)...), "-o", "json")...)
	if code != 1 {
		t.Fatalf("pre-commit exit %d, want 1\n%s", code, stderr)
	}
	staged := jsonDoor(t, stagedOut)

	t.Logf("findings every door shows:\n%s", cli)
	if !strings.Contains(cli, "prod overlays/prod/deployment-prod.yaml:15 failure image-tag-pinned") {
		t.Errorf("CLI lacks the pinned-image failure:\n%s", cli)
	}
	for door, got := range map[string]string{"App check runs": sortedSet(app), "Action annotations": sortedSet(gha), "pre-commit": staged} {
		if got != cli {
			t.Errorf("%s differ from the CLI:\n%s\n--- CLI:\n%s", door, got, cli)
		}
	}
}
