package policy

import (
	"strings"
	"testing"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/source"
)

func latestDeployment(name, annotations string) string {
	return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ` + name + `
  namespace: shop
` + annotations + `spec:
  replicas: 2
  template:
    spec:
      securityContext:
        runAsNonRoot: true
      containers:
        - name: app
          image: vendor/app:latest
          resources:
            requests: {cpu: 10m, memory: 10Mi}
            limits: {cpu: 10m, memory: 10Mi}
`
}

func TestWaivers(t *testing.T) {
	gate := `environments:
  - name: dev
    path: env
exceptions:
  - rule: image-tag-pinned
    kind: Deployment
    namespace: shop
    name: by-config
    reason: vendor publishes latest only
    expires: 2026-12-31
  - rule: image-tag-pinned
    name: expired-config
    reason: was temporary
    expires: 2026-01-31
  - rule: image-tag-pinned
    reason: everything, please
    expires: 2026-12-31
`
	annotated := `  annotations:
    gate-ops.io/waive: |
      - rule: image-tag-pinned
        reason: pinned by the vendor operator
        expires: 2026-09-30
`
	expiredAnn := `  annotations:
    gate-ops.io/waive: |
      - rule: image-tag-pinned
        reason: old
        expires: 2025-12-31
`
	invalidAnn := `  annotations:
    gate-ops.io/waive: |
      - rule: image-tag-pinned
        expires: 2026-12-31
`
	src := source.NewMem("worktree", map[string]string{
		"gate.yaml":               gate,
		"env/by-config.yaml":      latestDeployment("by-config", ""),
		"env/expired-config.yaml": latestDeployment("expired-config", ""),
		"env/by-annotation.yaml":  latestDeployment("by-annotation", annotated),
		"env/expired-ann.yaml":    latestDeployment("expired-ann", expiredAnn),
		"env/invalid-ann.yaml":    latestDeployment("invalid-ann", invalidAnn),
		"env/plain.yaml":          latestDeployment("plain", ""),
	})
	cfg := mustConfig(t, src)
	st, load := loadStage(t, src, cfg, testOpts())
	if len(load) != 1 || load[0].RuleID != RuleWaiverInvalid || load[0].Origin.String() != "gate.yaml:15" {
		t.Fatalf("an exception without a resource must be reported: %s", dump(load))
	}
	fs := check(t, st, renderAll(t, src, cfg)[0], nil)
	waived := map[string]string{}
	for _, f := range byRule(fs, "image-tag-pinned") {
		waived[f.Resource.Name] = f.Waived
	}
	if len(waived) != 6 {
		t.Fatalf("findings: %s", dump(fs))
	}
	if w := waived["by-config"]; !strings.HasPrefix(w, "vendor publishes latest only (gate.yaml:5, until 2026-12-31)") {
		t.Fatalf("by-config waived = %q", w)
	}
	if w := waived["by-annotation"]; !strings.HasPrefix(w, "pinned by the vendor operator (env/by-annotation.yaml:7, until 2026-09-30)") {
		t.Fatalf("by-annotation waived = %q", w)
	}
	for _, n := range []string{"expired-config", "expired-ann", "invalid-ann", "plain"} {
		if waived[n] != "" {
			t.Fatalf("%s must not be waived: %q", n, waived[n])
		}
	}
	exp := byRule(fs, RuleWaiverExpired)
	if len(exp) != 2 {
		t.Fatalf("expired waivers: %s", dump(fs))
	}
	origins := []string{exp[0].Origin.String(), exp[1].Origin.String()}
	if !strings.Contains(strings.Join(origins, " "), "gate.yaml:11") || !strings.Contains(strings.Join(origins, " "), "env/expired-ann.yaml:7") ||
		!strings.Contains(exp[0].Message+exp[1].Message, "expired on 2026-01-31") {
		t.Fatalf("expired waivers: %s", dump(exp))
	}
	inv := byRule(fs, RuleWaiverInvalid)
	if len(inv) != 1 || inv[0].Resource.Name != "invalid-ann" || !strings.Contains(inv[0].Message, "needs rule, reason and expires") {
		t.Fatalf("invalid waiver: %s", dump(fs))
	}
	if checks.Failing(byRule(fs, "image-tag-pinned"), checks.SeverityWarning) != true {
		t.Fatal("unwaived findings must still fail")
	}
}

func TestWaiverAddedByTheChangeIsFlagged(t *testing.T) {
	annotated := `  annotations:
    gate-ops.io/waive: |
      - rule: image-tag-pinned
        reason: trust me
        expires: 2026-12-31
`
	// The recommended set grades image-tag-pinned a warning; this repo makes it an error.
	gate := "environments:\n  - name: dev\n    path: env\npolicies:\n  rules:\n    image-tag-pinned: error\n"
	base := source.NewMem("base", map[string]string{"gate.yaml": gate, "env/app.yaml": latestDeployment("app", "")})
	head := source.NewMem("head", map[string]string{"gate.yaml": gate, "env/app.yaml": latestDeployment("app", annotated)})
	cfg := mustConfig(t, base)
	st := mustLoad(t, base, cfg, testOpts())
	baseRes, headRes := renderAll(t, base, cfg)[0], renderAll(t, head, cfg)[0]
	fs := check(t, st, headRes, baseRes)
	added := byRule(fs, RuleWaiverAdded)
	if len(added) != 1 || added[0].Severity != checks.SeverityWarning || added[0].Origin.String() != "env/app.yaml:7" {
		t.Fatalf("findings: %s", dump(fs))
	}
	// A waiver the change adds waives nothing: the finding still fails.
	if pinned := byRule(fs, "image-tag-pinned"); len(pinned) == 0 || pinned[0].Waived != "" || !checks.Failing(pinned, checks.SeverityError) {
		t.Fatalf("a waiver the pull request adds waived its own finding: %s", dump(fs))
	}
	// Unchanged waivers are not news, and count: the base holds them.
	fs = check(t, st, headRes, headRes)
	if len(byRule(fs, RuleWaiverAdded)) != 0 {
		t.Fatalf("findings: %s", dump(fs))
	}
	if pinned := byRule(fs, "image-tag-pinned"); len(pinned) == 0 || pinned[0].Waived == "" {
		t.Fatalf("a waiver the base holds does not waive: %s", dump(fs))
	}
	// Without a base (a work tree), the annotation is the author's own
	// and counts.
	fs = check(t, st, headRes, nil)
	if pinned := byRule(fs, "image-tag-pinned"); len(pinned) == 0 || pinned[0].Waived == "" {
		t.Fatalf("a work-tree waiver does not waive: %s", dump(fs))
	}
}

// TestWaiverTermsComeFromTheBase: a change that extends the expiry of a
// waiver the base holds gets the base's expiry; a waiver on an object the
// base does not have is proposed, not counted.
func TestWaiverTermsComeFromTheBase(t *testing.T) {
	ann := func(expires string) string {
		return "  annotations:\n    gate-ops.io/waive: |\n      - rule: image-tag-pinned\n        reason: vendor\n        expires: " + expires + "\n"
	}
	gate := "environments:\n  - name: dev\n    path: env\n"
	base := source.NewMem("base", map[string]string{"gate.yaml": gate, "env/app.yaml": latestDeployment("app", ann("2020-01-01"))})
	head := source.NewMem("head", map[string]string{"gate.yaml": gate, "env/app.yaml": latestDeployment("app", ann("2099-12-31")),
		"env/new.yaml": latestDeployment("new", ann("2099-12-31"))})
	cfg := mustConfig(t, base)
	st := mustLoad(t, base, cfg, testOpts())
	baseRes, headRes := renderAll(t, base, cfg)[0], renderAll(t, head, cfg)[0]
	fs := check(t, st, headRes, baseRes)
	for _, f := range byRule(fs, "image-tag-pinned") {
		if f.Waived != "" {
			t.Errorf("%s is waived (%s): the base's waiver expired in 2020 and the new object's waiver is only proposed", f.Resource, f.Waived)
		}
	}
	if exp := byRule(fs, RuleWaiverExpired); len(exp) != 1 || exp[0].Resource.Name != "app" || !strings.Contains(exp[0].Message, "2020-01-01") {
		t.Errorf("want the base's waiver of app reported expired on 2020-01-01: %s", dump(fs))
	}
	if added := byRule(fs, RuleWaiverAdded); len(added) != 1 || added[0].Resource.Name != "new" {
		t.Errorf("want the waiver on the new object proposed: %s", dump(fs))
	}
}
