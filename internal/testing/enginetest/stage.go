package enginetest

import (
	"context"
	"encoding/base64"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/engine"
	"github.com/gate-ops/gate/checks/source"
)

// RuleStage is a small, real check for the tests of the engine and of the
// report formats, independent of the schema and policy stages (whose
// messages evolve on their own):
//
//   - test/replicas: a Deployment with fewer than two replicas (warning),
//     located on spec.replicas;
//   - test/prerelease-image: a container image with a -rc tag (error),
//     located on the image;
//   - test/secret-echo: a notice per Secret key that quotes the value, the
//     way a careless check or a renderer's error text would. The engine must
//     scrub it: no report may show it.
type RuleStage struct{}

// Name implements engine.Stage.
func (RuleStage) Name() string { return "test" }

// Check implements engine.Stage.
func (RuleStage) Check(_ context.Context, in *engine.Input) ([]checks.Finding, error) {
	var out []checks.Finding
	for _, r := range in.Head.Resources {
		id := r.ID
		add := func(rule string, sev checks.Severity, path []string, msg string) {
			out = append(out, checks.Finding{Check: "test", RuleID: rule, Severity: sev, Env: in.Env.Name, Resource: &id,
				Message: msg, Path: strings.Join(path, "."), Origin: in.Head.Locate(r, path), HelpURL: "https://example.com/rules/" + rule})
		}
		switch id.Kind {
		case "Deployment":
			spec, _ := r.Object["spec"].(map[string]any)
			if n, ok := toInt(spec["replicas"]); ok && n < 2 {
				add("test/replicas", checks.SeverityWarning, []string{"spec", "replicas"}, fmt.Sprintf("%d replica: a single pod is a single point of failure", n))
			}
			tmpl, _ := spec["template"].(map[string]any)
			ps, _ := tmpl["spec"].(map[string]any)
			cs, _ := ps["containers"].([]any)
			for i, c := range cs {
				cm, _ := c.(map[string]any)
				img, _ := cm["image"].(string)
				if strings.Contains(img, "-rc") {
					add("test/prerelease-image", checks.SeverityError, []string{"spec", "template", "spec", "containers", fmt.Sprint(i), "image"},
						fmt.Sprintf("image %s is a release candidate", img))
				}
			}
		case "Secret":
			data, _ := r.Object["data"].(map[string]any)
			keys := make([]string, 0, len(data))
			for k := range data {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				s, _ := data[k].(string)
				v, _ := base64.StdEncoding.DecodeString(s)
				add("test/secret-echo", checks.SeverityNotice, []string{"data", k}, fmt.Sprintf("key %s holds %q (base64 %s)", k, v, s))
			}
		}
	}
	return out, nil
}

func toInt(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int64:
		return int(n), true
	case float64:
		return int(n), true
	}
	return 0, false
}

// Example opens testdata/example as the work tree.
func Example(t testing.TB) (*source.Dir, *config.Config) {
	t.Helper()
	src, err := source.OpenDir(ExampleDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := config.Load(src, "")
	if err != nil {
		t.Fatal(err)
	}
	return src, cfg
}

// RenderOnly implements engine.RenderOnly: the findings depend on the
// rendering alone.
func (RuleStage) RenderOnly() bool { return true }
