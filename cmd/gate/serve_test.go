package main

import (
	"github.com/gate-ops/gate/internal/run"

	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gate-ops/gate/checks/render"
	"github.com/gate-ops/gate/internal/app"
	"github.com/gate-ops/gate/internal/testing/apptest"
)

// serveWorld is the App's end-to-end world wired with the runner
// `gate serve` uses: the engine with the stages of internal/run/stages.go, incremental,
// with a render cache.
func serveWorld(t *testing.T) *apptest.World {
	t.Helper()
	w, _ := serveWorldCache(t)
	return w
}

// serveWorldCache is serveWorld and its render cache directory.
func serveWorldCache(t *testing.T) (*apptest.World, string) {
	t.Helper()
	g := &globals{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, log: slog.New(slog.DiscardHandler), maxFile: 16 << 20}
	dir := filepath.Join(t.TempDir(), "render")
	c, err := render.OpenCache(dir, cacheSalt())
	if err != nil {
		t.Fatal(err)
	}
	r := run.AppRunner(run.Stages{}, g.limits, render.Options{Cache: c}, g.configPath)
	return apptest.New(t, apptest.Options{Example: "../../testdata/example", Runner: r, Workers: 2}), dir
}

// TestServeJudgesPullRequestByBaseConfig: a pull request that breaks prod
// and, in the same change, drops prod from gate.yaml is still checked as
// prod by the base's gate.yaml, and fails.
func TestServeJudgesPullRequestByBaseConfig(t *testing.T) {
	w := serveWorld(t)
	k := string(w.Repo.Read("overlays/prod/kustomization.yaml"))
	k = strings.Replace(k, "resources:\n", "resources:\n  - https://github.com/evil/base//deploy?ref=v1\n", 1)
	gy := string(w.Repo.Read("gate.yaml"))
	i := strings.Index(gy, "  - name: prod")
	if i < 0 {
		t.Fatalf("example gate.yaml has no prod environment:\n%s", gy)
	}
	weakened := gy[:i]
	head := w.Repo.Commit(w.Repo.Main, map[string][]byte{
		"overlays/prod/kustomization.yaml": []byte(k),
		"gate.yaml":                        []byte(weakened),
	}, "prod: shared base; gate.yaml: stop checking prod")
	w.Repo.SetRef("refs/pull/21/head", head)
	w.Deliver("pull_request", w.PullRequest("opened", 21, head, time.Now()), []byte(apptest.Secret))
	w.WaitIdle(2 * time.Minute)
	runs := w.RunsFor(head)
	prod, ok := runs["gate / prod"]
	if !ok {
		t.Fatalf("the pull request's gate.yaml removed gate / prod: check runs %v", keys(runs))
	}
	if prod.Conclusion != "failure" {
		t.Errorf("gate / prod concluded %q, want failure; summary:\n%s", prod.Conclusion, prod.Summary)
	}
	found := false
	for _, a := range prod.Annotations {
		if a.Path == "overlays/prod/kustomization.yaml" && a.Level == "failure" {
			found = true
		}
	}
	if !found {
		t.Errorf("no failure annotation on overlays/prod/kustomization.yaml: %+v", prod.Annotations)
	}
	for _, cr := range w.Fake.CheckRuns() {
		if cr.Status != "completed" {
			t.Errorf("%s is %s", cr.Name, cr.Status)
		}
	}
	if p := w.Fake.Problems(); len(p) > 0 {
		t.Errorf("fake GitHub problems: %v", p)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestServeConfigFromFlagsAndEnv(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "app.pem")
	if err := os.WriteFile(key, []byte("-----BEGIN RSA PRIVATE KEY-----\n-----END RSA PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		env     map[string]string
		args    []string
		wantErr string
		check   func(t *testing.T, f *serveFlags, secret string)
	}{
		{name: "env only", env: map[string]string{"GATE_APP_ID": "99", "GATE_PRIVATE_KEY_FILE": key, "GATE_WEBHOOK_SECRET": "s", "GATE_GITHUB_URL": "https://ghe.example.com/api/v3/", "GATE_WORKERS": "7", "GATE_LISTEN": "127.0.0.1:9099", "GATE_RUN_TIMEOUT": "90s"},
			check: func(t *testing.T, f *serveFlags, secret string) {
				if f.appID != 99 || f.githubURL != "https://ghe.example.com/api/v3/" || f.workers != 7 || secret != "s" || f.listen != "127.0.0.1:9099" || f.runTimeout != 90*time.Second {
					t.Errorf("got app %d url %q workers %d secret %q listen %q timeout %s", f.appID, f.githubURL, f.workers, secret, f.listen, f.runTimeout)
				}
			}},
		{name: "flag beats env", env: map[string]string{"GATE_APP_ID": "99", "GATE_PRIVATE_KEY_FILE": key}, args: []string{"--app-id", "5", "--webhook-secret-file", secretFile},
			check: func(t *testing.T, f *serveFlags, secret string) {
				if f.appID != 5 || secret != "from-file" {
					t.Errorf("got app %d secret %q", f.appID, secret)
				}
			}},
		{name: "no secret", env: map[string]string{"GATE_APP_ID": "1", "GATE_PRIVATE_KEY_FILE": key}, wantErr: "webhook secret is required"},
		{name: "no key", env: map[string]string{"GATE_APP_ID": "1", "GATE_WEBHOOK_SECRET": "s"}, wantErr: "--private-key-file"},
		{name: "bad number", env: map[string]string{"GATE_APP_ID": "x"}, wantErr: "GATE_APP_ID"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"GATE_APP_ID", "GATE_PRIVATE_KEY_FILE", "GATE_WEBHOOK_SECRET", "GATE_GITHUB_URL", "GATE_WORKERS", "GATE_LISTEN", "GATE_RUN_TIMEOUT", "GATE_CACHE_DIR"} {
				t.Setenv(k, "")
				os.Unsetenv(k)
			}
			t.Setenv("XDG_CACHE_HOME", t.TempDir()) // the default cache root
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			g := &globals{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, log: slog.New(slog.DiscardHandler)}
			f := &serveFlags{}
			cmd := serveCmd(g, f)
			if err := cmd.ParseFlags(tc.args); err != nil {
				t.Fatal(err)
			}
			err := flagsFromEnv(cmd.Flags())
			if err == nil {
				var cfg app.Config
				cfg, err = g.serveConfig(f)
				if err == nil && tc.check != nil {
					tc.check(t, f, cfg.WebhookSecret)
				}
			}
			if tc.wantErr == "" && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.wantErr)
			}
		})
	}
}

// TestServeDeploymentPassesTheGate: the App's own Kubernetes manifests
// render and pass gate's schema and policy checks.
func TestServeDeploymentPassesTheGate(t *testing.T) {
	out, errOut, code := runGate(t, "--repo", "../../internal/app/deploy", "check")
	if code != 0 {
		t.Fatalf("gate check on internal/app/deploy exited %d:\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "6 resources") {
		t.Errorf("want the 6 deployment resources rendered:\n%s", out)
	}
}

// TestServeJudgesPullRequestByBasePolicies: the base branch has a policy
// capping replicas; a pull request that raises replicas past it, deletes
// the policy and waives the rule in its own gate.yaml is still judged by
// the base's policy and gate.yaml, and fails.
func TestServeJudgesPullRequestByBasePolicies(t *testing.T) {
	w := serveWorld(t)
	const rule = `package main

import rego.v1

deny contains msg if {
	input.kind == "Deployment"
	input.spec.replicas > 10
	msg := sprintf("%s asks for %d replicas; more than 10 needs a capacity review", [input.metadata.name, input.spec.replicas])
}
`
	main := w.Repo.Commit(w.Repo.Main, map[string][]byte{"policy/replicas.rego": []byte(rule)}, "policy: cap replicas")
	w.Repo.SetRef("refs/heads/main", main)
	w.Repo.Main = main

	d := strings.Replace(string(w.Repo.Read("overlays/prod/deployment-prod.yaml")), "replicas: 3", "replicas: 20", 1)
	gy := string(w.Repo.Read("gate.yaml")) + "  - rule: main.deny\n    env: prod\n    reason: trust me\n    expires: \"2099-01-01\"\n"
	head := w.Repo.Commit(main, map[string][]byte{
		"overlays/prod/deployment-prod.yaml": []byte(d),
		"policy/replicas.rego":               nil,
		"gate.yaml":                          []byte(gy),
	}, "prod: 20 replicas; drop the cap")
	w.Repo.SetRef("refs/pull/22/head", head)
	w.Deliver("pull_request", w.PullRequest("opened", 22, head, time.Now()), []byte(apptest.Secret))
	w.WaitIdle(2 * time.Minute)
	prod := w.RunsFor(head)["gate / prod"]
	if prod.Conclusion != "failure" {
		t.Fatalf("gate / prod concluded %q, want failure by the base's policy; summary:\n%s", prod.Conclusion, prod.Summary)
	}
	found := false
	for _, a := range prod.Annotations {
		// conftest deny rules carry no field path, so the policy stage puts
		// the finding on the object's source document.
		if strings.Contains(a.Message, "capacity review") && a.Level == "failure" && a.Path != "" {
			found = true
		}
	}
	if !found {
		t.Errorf("no failure annotation from the base's policy: %+v", prod.Annotations)
	}
	if strings.Contains(prod.Summary, "trust me") {
		t.Errorf("the pull request's own waiver was applied:\n%s", prod.Summary)
	}
	for _, cr := range w.Fake.CheckRuns() {
		if cr.Status != "completed" {
			t.Errorf("%s is %s", cr.Name, cr.Status)
		}
	}
}

// serveConfigRunner is the runner `gate serve` builds from its flags, with
// GATE_CACHE_DIR set to a fresh directory (returned).
func serveConfigRunner(t *testing.T, args ...string) (app.Runner, string) {
	t.Helper()
	dir := t.TempDir()
	key := filepath.Join(dir, "app.pem")
	if err := os.WriteFile(key, []byte("unused"), 0o600); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "cache")
	t.Setenv("GATE_CACHE_DIR", root)
	t.Setenv("GATE_APP_ID", "1")
	t.Setenv("GATE_PRIVATE_KEY_FILE", key)
	t.Setenv("GATE_WEBHOOK_SECRET", apptest.Secret)
	g := &globals{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, log: slog.New(slog.DiscardHandler), maxFile: 16 << 20}
	f := &serveFlags{}
	cmd := serveCmd(g, f)
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	if err := flagsFromEnv(cmd.Flags()); err != nil {
		t.Fatal(err)
	}
	cfg, err := g.serveConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, "repos"); cfg.CacheDir != want {
		t.Errorf("repo cache at %s, want %s", cfg.CacheDir, want)
	}
	return cfg.Runner, root
}

// cacheEntries counts the render cache's entries.
func cacheEntries(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		// Renders only (r-*.json): an environment's manifest (m-*.json,
		// the probe records that find its renders), the records index and
		// the closures are not renders.
		if !d.IsDir() && strings.HasSuffix(p, ".json") && strings.HasPrefix(d.Name(), "r-") {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestServeChecksTouchedEnvsWithRenderCache: with the runner `gate serve`
// builds from its flags (no cache flag given), a pull request changing
// prod renders only prod (at base and head), completes dev and staging
// neutral as not rendered, and the render cache is on: a second pull request on the same
// base renders only its own head, and a Re-run renders nothing.
func TestServeChecksTouchedEnvsWithRenderCache(t *testing.T) {
	r, root := serveConfigRunner(t)
	renders := filepath.Join(root, "render")
	w := apptest.New(t, apptest.Options{Example: "../../testdata/example", Runner: r, Workers: 2})
	d := string(w.Repo.Read("overlays/prod/deployment-prod.yaml"))
	push := func(pr, replicas int) string {
		head := w.Repo.Commit(w.Repo.Main, map[string][]byte{"overlays/prod/deployment-prod.yaml": []byte(strings.Replace(d, "replicas: 3", fmt.Sprintf("replicas: %d", replicas), 1))}, "prod replicas")
		w.Repo.SetRef(fmt.Sprintf("refs/pull/%d/head", pr), head)
		w.Deliver("pull_request", w.PullRequest("opened", pr, head, time.Now()), []byte(apptest.Secret))
		w.WaitIdle(2 * time.Minute)
		return head
	}
	head := push(31, 4)
	runs := w.RunsFor(head)
	if c := runs["gate / prod"].Conclusion; c != "success" {
		t.Fatalf("gate / prod concluded %q, want success:\n%s", c, runs["gate / prod"].Summary)
	}
	for _, env := range []string{"dev", "staging"} {
		cr := runs["gate / "+env]
		if cr.Status != "completed" || cr.Conclusion != "neutral" || !strings.Contains(cr.Summary, "Not rendered") {
			t.Errorf("gate / %s: %s/%s, want completed neutral, not rendered:\n%s", env, cr.Status, cr.Conclusion, cr.Summary)
		}
	}
	first := cacheEntries(t, renders)
	// prod at base and head only: no changed file reaches the closures of
	// dev and staging, which proves them untouched without rendering them
	// at either revision.
	if first != 2 {
		t.Errorf("render cache holds %d entries after the first pull request, want 2 (prod at base and head; dev and staging decided by their closures)", first)
	}
	push(32, 5)
	if n := cacheEntries(t, renders); n != first+1 {
		t.Errorf("render cache holds %d entries after a second pull request on the same base, want %d: the base was rendered again", n, first+1)
	}
	before := cacheEntries(t, renders)
	pr := map[string]any{"number": 31, "head": map[string]any{"ref": "pr-31", "sha": head}, "base": map[string]any{"ref": "main", "sha": w.Repo.Main}}
	w.Deliver("check_suite", w.Payload("check_suite.rerequested", map[string]any{"check_suite.head_sha": head, "check_suite.pull_requests": []any{pr}}), []byte(apptest.Secret))
	w.WaitIdle(2 * time.Minute)
	if n := len(w.Fake.CheckRuns()); n != 9 {
		t.Errorf("after the Re-run: %d check runs, want 9", n)
	}
	if n := cacheEntries(t, renders); n != before {
		t.Errorf("a Re-run of a checked head added %d render cache entries, want none", n-before)
	}
	if c := w.RunsFor(head)["gate / prod"].Conclusion; c != "success" {
		t.Errorf("the Re-run from the cache concluded %q, want success", c)
	}
	for _, cr := range w.Fake.CheckRuns() {
		if cr.Status != "completed" {
			t.Errorf("%s is %s", cr.Name, cr.Status)
		}
	}
}

// TestServeNoRenderCache: --no-render-cache leaves the render cache off.
func TestServeNoRenderCache(t *testing.T) {
	_, root := serveConfigRunner(t, "--no-render-cache")
	if _, err := os.Stat(filepath.Join(root, "render")); !os.IsNotExist(err) {
		t.Errorf("--no-render-cache created %s (err %v)", filepath.Join(root, "render"), err)
	}
}

// TestServeNeverShowsSecretValues: canary values in a Secret (changed by
// the pull request, quoted by a base policy's message, and invalid base64
// the schema check trips on) never reach GitHub: not in any request body
// the App sends, not in the full report behind details_url, not in the logs.
func TestServeNeverShowsSecretValues(t *testing.T) {
	w := serveWorld(t)
	const (
		oldCanary = "canary-old-b6f1e0c2d9"
		newCanary = "canary-new-7d3a91fe44"
		b64Canary = "canary-b64-55e2c8a1"
		badCanary = "canary-bad-base64-#!9f0"
	)
	const rule = `package main

import rego.v1

deny contains msg if {
	input.kind == "Secret"
	msg := sprintf("Secret %s must come from the vault, not git (password %s)", [input.metadata.name, input.stringData.password])
}
`
	secret := func(pw string, extra string) []byte {
		return []byte("apiVersion: v1\nkind: Secret\nmetadata:\n  name: api-keys\ntype: Opaque\nstringData:\n  password: " + pw + "\n" + extra)
	}
	k := string(w.Repo.Read("overlays/prod/kustomization.yaml"))
	k = strings.Replace(k, "resources:\n", "resources:\n  - api-keys.yaml\n", 1)
	main := w.Repo.Commit(w.Repo.Main, map[string][]byte{
		"policy/secrets.rego":              []byte(rule),
		"overlays/prod/api-keys.yaml":      secret(oldCanary, ""),
		"overlays/prod/kustomization.yaml": []byte(k),
	}, "prod: api keys; policy on secrets")
	w.Repo.SetRef("refs/heads/main", main)
	w.Repo.Main = main
	b64 := base64.StdEncoding.EncodeToString([]byte(b64Canary))
	head := w.Repo.Commit(main, map[string][]byte{
		"overlays/prod/api-keys.yaml": secret(newCanary, "data:\n  token: "+b64+"\n  broken: \""+badCanary+"\"\n"),
	}, "prod: rotate the api keys")
	w.Repo.SetRef("refs/pull/33/head", head)
	w.Deliver("pull_request", w.PullRequest("opened", 33, head, time.Now()), []byte(apptest.Secret))
	w.WaitIdle(2 * time.Minute)

	prod := w.RunsFor(head)["gate / prod"]
	if prod.Conclusion != "failure" {
		t.Fatalf("gate / prod concluded %q, want failure (the base policy flags the Secret):\n%s", prod.Conclusion, prod.Summary)
	}
	// The canaries were there to leak: the policy finding and the diff of
	// the Secret are on the check run, with the values hidden.
	if !strings.Contains(prod.Summary, "must come from the vault") {
		t.Errorf("the base policy's finding on the Secret is missing:\n%s", prod.Summary)
	}
	if !strings.Contains(prod.Text, "api-keys") || !strings.Contains(prod.Text, "+  password: <secret sha256:") {
		t.Errorf("the diff does not show the Secret's key changed, with a hash for its value:\n%s", prod.Text)
	}
	if !strings.Contains(prod.Summary, "schema/invalid") || !strings.Contains(prod.Summary, "redacted sha256:") {
		t.Errorf("the schema finding on the broken Secret value is missing or not redacted:\n%s", prod.Summary)
	}
	var sent []string
	for _, b := range w.Fake.Bodies() {
		sent = append(sent, string(b))
	}
	sent = append(sent, get(t, prod.DetailsURL), w.LogBuf.String())
	for _, c := range []string{oldCanary, newCanary, b64Canary, b64, badCanary} {
		for i, s := range sent {
			if j := strings.Index(s, c); j >= 0 {
				t.Errorf("secret value %q leaked (output %d of %d): ...%s...", c, i, len(sent), s[max(0, j-200):min(len(s), j+100)])
			}
		}
	}
	for _, cr := range w.Fake.CheckRuns() {
		if cr.Status != "completed" {
			t.Errorf("%s is %s", cr.Name, cr.Status)
		}
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return string(b)
}

// TestServeJudgesPolicyChangesByTheBase: the base keeps its Rego in
// policies/ (gate.yaml policies.paths) with a replica cap. Pull requests
// that raise replicas past it while weakening the cap in policies/,
// switching the rule off in gate.yaml, or pointing gate.yaml elsewhere are
// all judged by the base's policies/ and gate.yaml, and fail.
func TestServeJudgesPolicyChangesByTheBase(t *testing.T) {
	w := serveWorld(t)
	rule := func(limit int) []byte {
		return []byte(fmt.Sprintf(`package main

import rego.v1

deny contains msg if {
	input.kind == "Deployment"
	input.spec.replicas > %d
	msg := sprintf("%%s asks for %%d replicas; more than %d needs a capacity review", [input.metadata.name, input.spec.replicas])
}
`, limit, limit))
	}
	gy := string(w.Repo.Read("gate.yaml"))
	main := w.Repo.Commit(w.Repo.Main, map[string][]byte{
		"policies/replicas.rego": rule(10),
		"gate.yaml":              []byte(withPolicies(gy, "  paths: [policies]\n")),
	}, "policies: cap replicas")
	w.Repo.SetRef("refs/heads/main", main)
	w.Repo.Main = main
	d := strings.Replace(string(w.Repo.Read("overlays/prod/deployment-prod.yaml")), "replicas: 3", "replicas: 20", 1)
	cases := map[string]map[string][]byte{
		"weakened in policies/":     {"policies/replicas.rego": rule(100)},
		"switched off in gate.yaml": {"gate.yaml": []byte(withPolicies(gy, "  paths: [policies]\n  rules:\n    main.deny: \"off\"\n"))},
		"policies moved away":       {"gate.yaml": []byte(withPolicies(gy, "  paths: [elsewhere]\n")), "elsewhere/.keep": []byte("\n")},
	}
	pr := 40
	for name, change := range cases {
		pr++
		change["overlays/prod/deployment-prod.yaml"] = []byte(d)
		head := w.Repo.Commit(main, change, "prod: 20 replicas; "+name)
		w.Repo.SetRef(fmt.Sprintf("refs/pull/%d/head", pr), head)
		w.Deliver("pull_request", w.PullRequest("opened", pr, head, time.Now()), []byte(apptest.Secret))
		w.WaitIdle(2 * time.Minute)
		prod := w.RunsFor(head)["gate / prod"]
		if prod.Conclusion != "failure" || !strings.Contains(prod.Summary, "more than 10 needs a capacity review") {
			t.Errorf("%s: gate / prod concluded %q, want failure by the base's cap of 10:\n%s", name, prod.Conclusion, prod.Summary)
		}
		// What the pull request's own policies would do is shown apart.
		if !strings.Contains(prod.Summary, "### Policy impact (not part of the verdict)") || !strings.Contains(prod.Summary, "- cleared:") {
			t.Errorf("%s: the check run lacks the policy impact section clearing the cap:\n%s", name, prod.Summary)
		}
	}
	for _, cr := range w.Fake.CheckRuns() {
		if cr.Status != "completed" {
			t.Errorf("%s is %s", cr.Name, cr.Status)
		}
	}
}

// withPolicies replaces the example gate.yaml's policies section (it ends
// the file) with one holding body.
func withPolicies(gy, body string) string {
	if i := strings.Index(gy, "\npolicies:\n"); i >= 0 {
		gy = gy[:i+1]
	}
	return gy + "policies:\n" + body
}

// TestServeJudgesByTheBaseBranchTip: a pull request branched before the
// base branch added a policy is judged by the policy: gate.yaml and the
// policies come from the base branch's tip, not from the older merge base
// the pull request chose by branching early. Its diff is still against
// the merge base.
func TestServeJudgesByTheBaseBranchTip(t *testing.T) {
	w := serveWorld(t)
	old := w.Repo.Main
	d := strings.Replace(string(w.Repo.Read("overlays/prod/deployment-prod.yaml")), "replicas: 3", "replicas: 20", 1)
	head := w.Repo.Commit(old, map[string][]byte{"overlays/prod/deployment-prod.yaml": []byte(d)}, "prod: 20 replicas")
	const rule = `package main

import rego.v1

deny contains msg if {
	input.kind == "Deployment"
	input.spec.replicas > 10
	msg := sprintf("%s asks for %d replicas; more than 10 needs a capacity review", [input.metadata.name, input.spec.replicas])
}
`
	tip := w.Repo.Commit(old, map[string][]byte{"policy/replicas.rego": []byte(rule)}, "policy: cap replicas")
	w.Repo.SetRef("refs/heads/main", tip)
	w.Repo.SetRef("refs/pull/26/head", head)
	w.Deliver("pull_request", w.PullRequest("opened", 26, head, time.Now()), []byte(apptest.Secret))
	w.WaitIdle(2 * time.Minute)
	prod := w.RunsFor(head)["gate / prod"]
	if prod.Conclusion != "failure" || !strings.Contains(prod.Summary, "capacity review") {
		t.Errorf("gate / prod concluded %q, want failure by the policy on the base branch's tip:\n%s", prod.Conclusion, prod.Summary)
	}
	if !strings.Contains(prod.Summary, "against base `"+old[:12]+"`") {
		t.Errorf("the diff is not against the merge base %s:\n%s", old[:12], prod.Summary)
	}
	if !strings.Contains(prod.Text, "replicas") {
		t.Errorf("the diff lacks the replica change:\n%s", prod.Text)
	}
}
