package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/source"
)

// repo builds an ops repo with two plain-YAML environments (dev and prod)
// sharing app.yaml, plus extra files.
func repo(extra map[string]string, gateYAML string) *source.Mem {
	files := map[string]string{
		"gate.yaml": gateYAML,
		"envs/dev/app.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels:
    team: shop
spec:
  replicas: 1
  template:
    metadata:
      labels:
        app: web
    spec:
      securityContext:
        runAsNonRoot: true
      containers:
        - name: web
          image: ghcr.io/acme/web:latest
          ports:
            - containerPort: 8080
          resources:
            requests: {cpu: 100m, memory: 64Mi}
            limits: {cpu: 200m, memory: 128Mi}
`,
		"envs/prod/app.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 3
  template:
    metadata:
      labels:
        app: web
    spec:
      securityContext:
        runAsNonRoot: true
      containers:
        - name: web
          image: ghcr.io/acme/web:1.2.3
          ports:
            - containerPort: 80
          resources:
            requests: {cpu: 100m, memory: 64Mi}
            limits: {cpu: 200m, memory: 128Mi}
`,
	}
	for k, v := range extra {
		files[k] = v
	}
	return source.NewMem("worktree", files)
}

const twoEnvs = `environments:
  - name: dev
    path: envs/dev
    labels: {tier: development}
  - name: prod
    path: envs/prod
    kubernetesVersion: "1.34"
    labels: {tier: production}
`

func findingsByEnv(t *testing.T, src *source.Mem, opts Options) (map[string][]checks.Finding, []checks.Finding) {
	t.Helper()
	cfg := mustConfig(t, src)
	st, loadFinds := loadStage(t, src, cfg, opts)
	out := map[string][]checks.Finding{}
	for _, res := range renderAll(t, src, cfg) {
		out[res.Env.Name] = check(t, st, res, nil)
	}
	return out, loadFinds
}

func mustConfig(t *testing.T, src *source.Mem) *config.Config {
	t.Helper()
	b, err := src.ReadFile("gate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return parseConfig(t, string(b))
}

func TestConftestDialect(t *testing.T) {
	pol := `package main

import data.gate.env

# A string message.
deny contains msg if {
	input.kind == "Deployment"
	some c in input.spec.template.spec.containers
	some p in c.ports
	p.containerPort < 1024
	msg := sprintf("container %s listens on privileged port %d", [c.name, p.containerPort])
}

# An object with msg, a path to blame and extra fields.
violation contains {"msg": "team label missing", "path": ["metadata", "labels"], "owner": "platform"} if {
	env.labels.tier == "production"
	not input.metadata.labels.team
}

# warn_ rules with a suffix are conftest rules too.
warn_replicas contains msg if {
	input.spec.replicas < 2
	msg := sprintf("%d replica in %s (Kubernetes %s)", [input.spec.replicas, env.name, env.kubernetesVersion])
}
`
	other := `package security.images

deny contains "images must come from ghcr.io" if {
	some c in input.spec.template.spec.containers
	not startswith(c.image, "ghcr.io/")
}
`
	t.Run("package main by default", func(t *testing.T) {
		src := repo(map[string]string{"policy/main.rego": pol, "policy/images.rego": other}, twoEnvs+"policies:\n  builtin: false\n")
		got, load := findingsByEnv(t, src, testOpts())
		if len(load) != 1 || load[0].Severity != checks.SeverityWarning || !strings.Contains(load[0].Message, "package security.images defines deny but is not evaluated") {
			t.Fatalf("load findings: %s", dump(load))
		}
		dev, prod := got["dev"], got["prod"]
		if w := byRule(dev, "main.warn_replicas"); len(w) != 1 || w[0].Severity != checks.SeverityWarning || w[0].Message != "1 replica in dev (Kubernetes )" {
			t.Fatalf("dev warn: %s", dump(dev))
		}
		if len(byRule(dev, "main.violation")) != 0 || len(byRule(dev, "main.deny")) != 0 {
			t.Fatalf("dev: %s", dump(dev))
		}
		d := byRule(prod, "main.deny")
		if len(d) != 1 || d[0].Severity != checks.SeverityError || d[0].Message != "container web listens on privileged port 80" || d[0].Origin.String() != "envs/prod/app.yaml:1" {
			t.Fatalf("prod deny: %s", dump(prod))
		}
		v := byRule(prod, "main.violation")
		if len(v) != 1 || v[0].Path != "metadata" && v[0].Path != "metadata.labels" || v[0].Origin.String() != "envs/prod/app.yaml:3" {
			t.Fatalf("prod violation should blame metadata (line 3): %s", dump(prod))
		}
		// Extra fields of the verdict object are kept, like conftest's metadata.
		if len(v[0].Details) != 1 || v[0].Details["owner"] != "platform" {
			t.Fatalf("violation details = %v, want {owner: platform}", v[0].Details)
		}
		if d[0].Details != nil {
			t.Fatalf("a string verdict has details: %v", d[0].Details)
		}
	})
	t.Run("namespaces from gate.yaml", func(t *testing.T) {
		src := repo(map[string]string{"policy/main.rego": pol, "policy/images.rego": other},
			twoEnvs+"policies:\n  builtin: false\n  namespaces: [security.images]\n")
		got, load := findingsByEnv(t, src, testOpts())
		if len(load) != 1 || !strings.Contains(load[0].Message, "package main") {
			t.Fatalf("load findings: %s", dump(load))
		}
		if len(got["dev"]) != 0 || len(got["prod"]) != 0 {
			t.Fatalf("ghcr.io images flagged: %s %s", dump(got["dev"]), dump(got["prod"]))
		}
		src = repo(map[string]string{"policy/images.rego": other, "envs/dev/app.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\nspec:\n  template:\n    spec:\n      containers:\n        - name: x\n          image: docker.io/x:1\n"},
			twoEnvs+"policies:\n  builtin: false\n  namespaces: [\"*\"]\n")
		got, _ = findingsByEnv(t, src, testOpts())
		if f := byRule(got["dev"], "security.images.deny"); len(f) != 1 {
			t.Fatalf("dev: %s", dump(got["dev"]))
		}
	})
	t.Run("severity per environment and off", func(t *testing.T) {
		src := repo(map[string]string{"policy/main.rego": pol},
			twoEnvs+`  - name: qa
    path: envs/dev
    rules:
      main.warn_replicas: error
policies:
  builtin: false
  rules:
    main.deny: "off"
`)
		got, load := findingsByEnv(t, src, testOpts())
		if len(load) != 0 {
			t.Fatalf("load: %s", dump(load))
		}
		if len(byRule(got["prod"], "main.deny")) != 0 {
			t.Fatalf("main.deny is off: %s", dump(got["prod"]))
		}
		if w := byRule(got["qa"], "main.warn_replicas"); len(w) != 1 || w[0].Severity != checks.SeverityError {
			t.Fatalf("qa: %s", dump(got["qa"]))
		}
		if w := byRule(got["dev"], "main.warn_replicas"); len(w) != 1 || w[0].Severity != checks.SeverityWarning {
			t.Fatalf("dev: %s", dump(got["dev"]))
		}
	})
	t.Run("unknown rule in gate.yaml", func(t *testing.T) {
		src := repo(nil, twoEnvs+"policies:\n  rules:\n    image-tag-pined: warning\n")
		_, load := findingsByEnv(t, src, testOpts())
		if len(load) != 1 || load[0].RuleID != RuleUnknownRule || load[0].Origin.String() != "gate.yaml:9" {
			t.Fatalf("load: %s", dump(load))
		}
	})
}

func TestBrokenPolicies(t *testing.T) {
	t.Run("http.send refused at load", func(t *testing.T) {
		src := repo(map[string]string{"policy/fetch.rego": "package main\n\ndeny contains msg if {\n\tresp := http.send({\"method\": \"GET\", \"url\": \"https://policy.example.com/allowed\"})\n\tnot resp.body.allowed\n\tmsg := \"not allowed\"\n}\n"}, twoEnvs)
		got, load := findingsByEnv(t, src, testOpts())
		if len(load) != 1 || load[0].RuleID != RuleLoad || load[0].Origin.String() != "policy/fetch.rego:4" || !strings.Contains(load[0].Message, "http.send is not allowed") {
			t.Fatalf("load: %s", dump(load))
		}
		// the built-in library still runs
		if len(byRule(got["dev"], "image-tag-pinned")) != 1 {
			t.Fatalf("built-in rules did not run: %s", dump(got["dev"]))
		}
	})
	t.Run("runtime error reported", func(t *testing.T) {
		pol := "package main\n\nowner := input.metadata.labels.team\n\nowner := \"nobody\" if input.kind == \"Deployment\"\n\ndeny contains msg if {\n\towner == \"nobody\"\n\tmsg := \"unowned\"\n}\n\nwarn contains \"checked\" if input.kind == \"Deployment\"\n"
		src := repo(map[string]string{"policy/owner.rego": pol}, twoEnvs+"policies:\n  builtin: false\n")
		got, _ := findingsByEnv(t, src, testOpts())
		errs := byRule(got["dev"], RuleEval)
		if len(errs) != 1 || errs[0].Severity != checks.SeverityError || errs[0].Origin.File != "policy/owner.rego" || errs[0].Origin.Line == 0 ||
			!strings.Contains(errs[0].Message, "eval_conflict_error") || errs[0].Resource == nil || errs[0].Resource.Name != "web" {
			t.Fatalf("dev: %s", dump(got["dev"]))
		}
		// prod has no team label: no conflict, no error
		if len(byRule(got["prod"], RuleEval)) != 0 {
			t.Fatalf("prod: %s", dump(got["prod"]))
		}
	})
	t.Run("strict builtin errors reported", func(t *testing.T) {
		pol := "package main\n\ndeny contains \"too many\" if to_number(input.metadata.labels.team) > 3\n"
		src := repo(map[string]string{"policy/num.rego": pol}, twoEnvs+"policies:\n  builtin: false\n")
		got, _ := findingsByEnv(t, src, testOpts())
		errs := byRule(got["dev"], RuleEval)
		if len(errs) != 1 || errs[0].Origin.String() != "policy/num.rego:3" {
			t.Fatalf("dev: %s", dump(got["dev"]))
		}
	})
	t.Run("loop past deadline reported", func(t *testing.T) {
		pol := "package main\n\ndeny contains msg if {\n\tsome i in numbers.range(1, 100000)\n\tsome j in numbers.range(1, 100000)\n\ti * j == -1\n\tmsg := \"never\"\n}\n\nwarn contains \"still evaluated\" if input.kind == \"Deployment\"\n"
		extra := map[string]string{"policy/loop.rego": pol}
		for _, n := range []string{"a", "b", "c"} {
			extra["envs/dev/cm-"+n+".yaml"] = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + n + "\n"
		}
		src := repo(extra, twoEnvs+"policies:\n  builtin: false\n")
		opts := testOpts()
		opts.Timeout = 50 * time.Millisecond
		opts.Parallelism = 1
		start := time.Now()
		got, _ := findingsByEnv(t, src, opts)
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("a looping policy held the run for %s", d)
		}
		to := byRule(got["dev"], RuleTimeout)
		if len(to) != 1 || to[0].Origin.File != "policy/loop.rego" || !strings.Contains(to[0].Message, "did not finish within 50ms") ||
			!strings.Contains(to[0].Message, "not evaluated on the 3 remaining resource(s)") {
			t.Fatalf("dev: %s", dump(got["dev"]))
		}
	})
}
