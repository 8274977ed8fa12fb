package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gate-ops/gate/checks/render"
	"github.com/gate-ops/gate/internal/run"
	"github.com/gate-ops/gate/internal/testing/apptest"
	"github.com/gate-ops/gate/internal/testing/fieldrows"
	"github.com/gate-ops/gate/internal/testing/gittest"
)

// rowsRepo lays every row of fieldrows.Rows out as its own environment of
// one ops repo (rows/<env>/..., the row's files unchanged, so its relative
// references hold), with one gate.yaml and the rows' policy at the root.
// It returns the base and the head trees and each row's environment name.
func rowsRepo() (base, head map[string]string, envs []string) {
	base, head = map[string]string{}, map[string]string{}
	var gy strings.Builder
	gy.WriteString("apiVersion: gate/v1\nenvironments:\n")
	for i, row := range fieldrows.Rows {
		env := fmt.Sprintf("r%02d", i)
		envs = append(envs, env)
		fmt.Fprintf(&gy, "  - name: %s\n    path: rows/%s/env\n", env, env)
		h, b := fieldrows.Sources(row)
		for k, v := range h {
			if k == "gate.yaml" || strings.HasPrefix(k, "policy/") {
				head[k] = v
				continue
			}
			head["rows/"+env+"/"+k] = v
		}
		for k, v := range b {
			if k == "gate.yaml" || strings.HasPrefix(k, "policy/") {
				continue
			}
			base["rows/"+env+"/"+k] = v
		}
	}
	gy.WriteString("policies:\n  paths: [policy]\n  namespaces: [main]\n")
	for k, v := range head {
		if strings.HasPrefix(k, "policy/") {
			base[k] = v
		}
	}
	delete(head, "gate.yaml")
	base["gate.yaml"] = gy.String()
	head["gate.yaml"] = gy.String()
	return base, head, envs
}

// rowWant is what one row expects at one door: a finding of a check on a
// field path at rows/<env>/<file>:<line>.
type rowWant struct {
	env, what, check, path, file string
	line                         int
}

func rowWants(envs []string) []rowWant {
	var out []rowWant
	defer func() {
		if len(out) < 40 {
			panic(fmt.Sprintf("only %d schema and policy expectations in fieldrows.Rows", len(out)))
		}
	}()
	for i, row := range fieldrows.Rows {
		for _, w := range []struct{ what, check, path, at string }{
			{"schema", "schema", row.SchemaPath, row.SchemaAt},
			{"policy", "main.deny", row.PolicyPath, row.PolicyAt},
		} {
			if w.at == "" {
				continue
			}
			file, line, ok := strings.Cut(w.at, ":")
			if !ok {
				panic(w.at)
			}
			n := 0
			fmt.Sscan(line, &n)
			out = append(out, rowWant{env: envs[i], what: w.what, check: w.check, path: w.path, file: "rows/" + envs[i] + "/" + file, line: n})
		}
	}
	return out
}

// TestFieldOriginsThroughTheApp: every row of the field-origin table as an
// environment of one pull request to the App (webhook in, the runner `gate
// serve` uses, check runs out through the fake GitHub that validates every
// request against GitHub's OpenAPI description): the schema and policy
// findings are annotations on the row's expected file and line, and the
// check run's diff names the line of the row's diff entry.
func TestFieldOriginsThroughTheApp(t *testing.T) {
	base, head, envs := rowsRepo()
	g := &globals{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, log: slog.New(slog.DiscardHandler), maxFile: 16 << 20}
	w := apptest.New(t, apptest.Options{Example: writeTree(t, base), Runner: run.AppRunner(run.Stages{}, g.limits, render.Options{}, g.configPath), Workers: 2})
	files := map[string][]byte{}
	for k, v := range head {
		if base[k] != v {
			files[k] = []byte(v)
		}
	}
	sha := w.Repo.Commit(w.Repo.Main, files, "every feature sets a flagged field")
	w.Repo.SetRef("refs/pull/19/head", sha)
	w.Deliver("pull_request", w.PullRequest("opened", 19, sha, time.Now()), []byte(apptest.Secret))
	w.WaitIdle(5 * time.Minute)
	runs := w.RunsFor(sha)
	for _, want := range rowWants(envs) {
		cr, ok := runs["gate / "+want.env]
		if !ok {
			t.Errorf("no check run gate / %s; have %d runs", want.env, len(runs))
			continue
		}
		var got []string
		found := false
		for _, a := range cr.Annotations {
			if strings.Contains(a.Message, want.path) {
				got = append(got, fmt.Sprintf("%s:%d", a.Path, a.StartLine))
				found = found || a.Path == want.file && a.StartLine == want.line
			}
		}
		if !found {
			t.Errorf("%s (%s): no annotation of the %s finding on %s at %s:%d; annotations on that field: %v", want.env, rowName(envs, want.env), want.what, want.path, want.file, want.line, got)
		}
	}
	for i, row := range fieldrows.Rows {
		at := row.DiffAt
		if at == "" {
			at = row.IdentityAt
		}
		if at == "" {
			continue
		}
		cr := runs["gate / "+envs[i]]
		kind := row.Kind
		if kind == "" {
			kind = "Deployment"
		}
		re := regexp.MustCompile("(?m)^### (changed|added|removed) `" + kind + "/[^`]*` \\(([^)]*)\\)")
		var got []string
		found := false
		for _, m := range re.FindAllStringSubmatch(cr.Text, -1) {
			got = append(got, m[2])
			found = found || m[2] == "rows/"+envs[i]+"/"+at
		}
		if !found {
			t.Errorf("%s (%s): the check run's diff of %s is at %v, want rows/%s/%s", envs[i], row.Name, kind, got, envs[i], at)
		}
	}
	if p := w.Fake.Problems(); len(p) > 0 {
		t.Errorf("the fake GitHub saw requests GitHub would not answer like that:\n%s", strings.Join(p, "\n"))
	}
}

// TestFieldOriginsThroughTheAction: the same rows as one pull request
// checked by action.yml's steps: every schema and policy finding is a
// workflow-command annotation on the row's expected file and line.
func TestFieldOriginsThroughTheAction(t *testing.T) {
	base, head, envs := rowsRepo()
	r := gittest.New(t)
	for k, v := range base {
		r.Write(k, v)
	}
	baseSHA := r.Commit("ops repo")
	r.Git("checkout", "-q", "-b", "feature")
	for k, v := range head {
		r.Write(k, v)
	}
	r.Commit("every feature sets a flagged field")
	a := runAction(t, r.Dir, baseSHA, nil)
	if a.code != 1 {
		t.Fatalf("gate step exit %d, want 1\nstdout:\n%s", a.code, a.stdout)
	}
	ann := regexp.MustCompile(`(?m)^::(error|warning|notice) file=([^,]*),line=(\d+),title=([^:]*)::`)
	type at struct{ file, line, title string }
	var anns []at
	for _, m := range ann.FindAllStringSubmatch(a.stdout, -1) {
		anns = append(anns, at{m[2], m[3], m[4]})
	}
	for _, want := range rowWants(envs) {
		prefix := want.env + "%3A " + want.check
		var got []string
		found := false
		for _, x := range anns {
			if strings.HasPrefix(x.title, prefix) {
				got = append(got, x.file+":"+x.line)
				found = found || x.file == want.file && x.line == fmt.Sprint(want.line)
			}
		}
		if !found {
			sort.Strings(got)
			t.Errorf("%s (%s): no %s annotation at %s:%d; %s annotations at %v", want.env, rowName(envs, want.env), want.what, want.file, want.line, prefix, got)
		}
	}
}

func rowName(envs []string, env string) string {
	for i, e := range envs {
		if e == env {
			return fieldrows.Rows[i].Name
		}
	}
	return ""
}
