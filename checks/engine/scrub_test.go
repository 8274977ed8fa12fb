package engine_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/engine"
	"github.com/gate-ops/gate/checks/source"
)

// echoStage is a policy that quotes what it sees: the "say" key of every
// ConfigMap, in its message (plain and Go-quoted) and in its details,
// as honest policies that print a field's value do.
type echoStage struct{}

func (echoStage) Name() string { return "echo" }

func (echoStage) Check(_ context.Context, in *engine.Input) ([]checks.Finding, error) {
	var out []checks.Finding
	for _, r := range in.Head.Resources {
		if r.ID.Kind != "ConfigMap" {
			continue
		}
		data, _ := r.Object["data"].(map[string]any)
		say, _ := data["say"].(string)
		id := r.ID
		b, _ := json.Marshal(say)
		out = append(out, checks.Finding{Check: "echo", RuleID: "echo/say", Severity: checks.SeverityWarning, Env: in.Env.Name, Resource: &id,
			Message: "says " + say + " (quoted " + string(b) + ")",
			Details: map[string]any{"value": say, "nested": []any{map[string]any{"v": say}}}})
	}
	return out, nil
}

func secretYAML(name, value string) string {
	return "apiVersion: v1\nkind: Secret\nmetadata:\n  name: " + name + "\ndata:\n  v: " + base64.StdEncoding.EncodeToString([]byte(value)) + "\n"
}

// TestScrubScopedToEnvironment: a Secret value scrubs the findings,
// details and diffs of its own environment, in every quoted form, and
// only there: "root" as a Secret value in prod leaves the word alone in
// dev's messages.
func TestScrubScopedToEnvironment(t *testing.T) {
	const tricky = "pa\"ss\\w\tördé"
	files := map[string]string{
		"prod/kustomization.yaml": "resources: [secret.yaml, tricky.yaml, cm.yaml]\n",
		"prod/secret.yaml":        secretYAML("s", "root"),
		"prod/tricky.yaml":        secretYAML("t", tricky),
		"prod/cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  say: \"root and " + strings.ReplaceAll(strings.ReplaceAll(tricky, `\`, `\\`), `"`, `\"`) + "\"\n",
		"dev/kustomization.yaml":  "resources: [cm.yaml]\n",
		"dev/cm.yaml":             "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  say: run as root\n",
	}
	files["prod/cm.yaml"] = strings.ReplaceAll(files["prod/cm.yaml"], "\t", `\t`)
	base := source.NewMem("base", map[string]string{"prod/kustomization.yaml": "resources: []\n", "dev/kustomization.yaml": "resources: []\n"})
	head := source.NewMem("head", files)
	cfg := &config.Config{Environments: []config.Env{{Name: "prod", Path: "prod"}, {Name: "dev", Path: "dev"}}}
	rep, err := engine.Run(context.Background(), &engine.Request{Head: head, Base: base, Config: cfg, Stages: []engine.Stage{echoStage{}}})
	if err != nil {
		t.Fatal(err)
	}
	dev := envByName(t, rep, "dev")
	if len(dev.Findings) != 1 || !strings.Contains(dev.Findings[0].Message, "run as root") || dev.Findings[0].Details["value"] != "run as root" {
		t.Errorf("dev's message lost the word root to prod's Secret: %+v", dev.Findings)
	}
	prod := envByName(t, rep, "prod")
	out, _ := json.Marshal(prod)
	s := string(out)
	q, _ := json.Marshal(tricky)
	for _, leak := range []string{"root", tricky, string(q[1 : len(q)-1]), `pa\\\"ss`} {
		if strings.Contains(s, leak) {
			t.Errorf("prod's report holds %q:\n%s", leak, s)
		}
	}
	if !strings.Contains(s, "redacted sha256:") {
		t.Errorf("prod's report shows no redaction:\n%s", s)
	}
}
