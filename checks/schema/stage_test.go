package schema

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	sigsyaml "sigs.k8s.io/yaml"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/engine"
	"github.com/gate-ops/gate/checks/render"
)

// resourcesFromYAML builds rendered resources without the renderer, the
// way another front door (or a benchmark) would hand them over.
func resourcesFromYAML(t testing.TB, docs ...string) []*checks.Resource {
	t.Helper()
	var out []*checks.Resource
	for i, d := range docs {
		var obj map[string]any
		if err := sigsyaml.Unmarshal([]byte(d), &obj); err != nil {
			t.Fatal(err)
		}
		av, _ := obj["apiVersion"].(string)
		kind, _ := obj["kind"].(string)
		md, _ := obj["metadata"].(map[string]any)
		name, _ := md["name"].(string)
		g, v := checks.ParseAPIVersion(av)
		out = append(out, &checks.Resource{
			ID:     checks.ResourceID{Group: g, Version: v, Kind: kind, Name: name},
			Object: obj, YAML: []byte(d), Origin: checks.Origin{File: fmt.Sprintf("doc%d.yaml", i), Line: 1},
		})
	}
	return out
}

func checkObjects(t testing.TB, st *Stage, k8s string, docs ...string) ([]checks.Finding, error) {
	t.Helper()
	res := &render.Result{Env: checks.Env{Name: "t", KubernetesVersion: k8s}, Resources: resourcesFromYAML(t, docs...)}
	return st.Check(context.Background(), &engine.Input{Env: res.Env, Head: res, All: []*render.Result{res}})
}

func rules(fs []checks.Finding) string {
	var s []string
	for _, f := range fs {
		s = append(s, f.Severity.String()+" "+f.RuleID+" "+f.Path)
	}
	return strings.Join(s, "; ")
}

// TestNoNetwork validates with every proxy variable pointing at a closed
// port and no DNS-resolvable schema location: the schemas come from the
// binary or nowhere.
func TestNoNetwork(t *testing.T) {
	for _, v := range []string{"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"} {
		t.Setenv(v, "http://127.0.0.1:1")
	}
	t.Setenv("NO_PROXY", "")
	st, _, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, k8s := range []string{"1.34", "1.35", "1.36", "1.37"} {
		fs, err := checkObjects(t, st, k8s, `apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {a: b}
unexpected: true`)
		if err != nil {
			t.Fatal(err)
		}
		if rules(fs) != "error schema/invalid unexpected" {
			t.Errorf("Kubernetes %s: %s", k8s, rules(fs))
		}
	}
}

// TestSchemaSetMissing: no bundles, or a version gate has no schemas
// for, is a hard error, never "everything skipped".
func TestSchemaSetMissing(t *testing.T) {
	if _, err := LoadBundles(fstest.MapFS{}); err == nil || !strings.Contains(err.Error(), "no Kubernetes schema bundles") {
		t.Errorf("empty bundle set: err = %v", err)
	}
	if _, _, err := New(Options{Bundles: nil, Config: config.Schemas{MissingSchema: "loud"}}); err == nil {
		t.Error("bad missingSchema severity accepted")
	}
	broken, err := LoadBundles(fstest.MapFS{"kubernetes-1.99.json.gz": {Data: []byte("not gzip")}})
	if err != nil {
		t.Fatal(err)
	}
	st, _, err := New(Options{Bundles: broken})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := checkObjects(t, st, "", `{apiVersion: v1, kind: ConfigMap, metadata: {name: a}}`); err == nil {
		t.Error("a corrupt bundle validated")
	}
	_, err = checkObjects(t, testStage(t), "1.20", `{apiVersion: v1, kind: ConfigMap, metadata: {name: a}}`)
	if err == nil || !strings.Contains(err.Error(), "no schemas for Kubernetes 1.20") || !strings.Contains(err.Error(), "1.34, 1.35, 1.36, 1.37") {
		t.Errorf("unknown version: err = %v", err)
	}
	if _, err := checkObjects(t, testStage(t), "one-point-five", `{apiVersion: v1, kind: ConfigMap, metadata: {name: a}}`); err == nil {
		t.Error("a nonsense kubernetesVersion was accepted")
	}
}

func TestVersionsAndDefault(t *testing.T) {
	b, err := LoadBundles(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(b.Versions(), ","); got != "1.34,1.35,1.36,1.37" {
		t.Errorf("embedded versions = %s", got)
	}
	for in, want := range map[string]string{"": "1.37", "1.35": "1.35", "v1.34.2": "1.34", "1.36.0-rc.1": "1.36"} {
		v, err := b.Resolve(in)
		if err != nil || v.minor != want {
			t.Errorf("Resolve(%q) = %v, %v; want %s", in, v, err, want)
		}
	}
	// Each env validates against its own version: a kind added in 1.37 is
	// unknown to 1.34 and fine in 1.37.
	doc := `apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicy
metadata: {name: p}
spec: {}`
	fs34, _ := checkObjects(t, testStage(t), "1.34", doc)
	fs37, _ := checkObjects(t, testStage(t), "1.37", doc)
	if rules(fs34) != "error schema/unknown-kind apiVersion" || !strings.Contains(fs34[0].Message, "served from 1.36") {
		t.Errorf("1.34: %s %v", rules(fs34), fs34)
	}
	for _, f := range fs37 {
		if f.RuleID == RuleUnknownKind {
			t.Errorf("1.37: %s", f)
		}
	}
}

func TestDeprecatedAndRemovedAPIs(t *testing.T) {
	tests := []struct {
		k8s, doc, want, msg string
	}{
		{"1.35", `{apiVersion: extensions/v1beta1, kind: Ingress, metadata: {name: a}}`,
			"error schema/removed-api apiVersion", "removed in 1.22); use apiVersion: networking.k8s.io/v1"},
		{"1.35", `{apiVersion: policy/v1beta1, kind: PodSecurityPolicy, metadata: {name: a}}`,
			"error schema/removed-api apiVersion", "use Pod Security Admission"},
		{"1.35", `{apiVersion: batch/v1beta1, kind: CronJob, metadata: {name: a}}`,
			"error schema/removed-api apiVersion", "use apiVersion: batch/v1"},
		{"1.35", `{apiVersion: flowcontrol.apiserver.k8s.io/v1beta3, kind: FlowSchema, metadata: {name: a}}`,
			"error schema/removed-api apiVersion", "removed in 1.32"},
		{"1.35", `{apiVersion: v1, kind: Endpoints, metadata: {name: a}}`,
			"warning schema/deprecated-api apiVersion", "deprecated since Kubernetes 1.33"},
		// Detected from the specs: served by 1.34, gone by 1.37.
		{"1.34", `{apiVersion: networking.k8s.io/v1beta1, kind: IPAddress, metadata: {name: 10.0.0.1}, spec: {parentRef: {resource: services, name: a, namespace: b}}}`,
			"warning schema/deprecated-api apiVersion", "use apiVersion: networking.k8s.io/v1"},
		{"1.37", `{apiVersion: networking.k8s.io/v1beta1, kind: IPAddress, metadata: {name: 10.0.0.1}}`,
			"error schema/removed-api apiVersion", "not served by Kubernetes 1.37"},
		// A typo in a built-in kind is an error, not a missing CRD.
		{"1.35", `{apiVersion: apps/v1, kind: deployment, metadata: {name: a}}`,
			"error schema/unknown-kind kind", "did you mean Deployment?"},
		// A kind gate has no schema for: reported, never skipped.
		{"1.35", `{apiVersion: monitoring.coreos.com/v1, kind: ServiceMonitor, metadata: {name: a}}`,
			"warning schema/missing-schema apiVersion", "was not validated"},
	}
	for _, tc := range tests {
		fs, err := checkObjects(t, testStage(t), tc.k8s, tc.doc)
		if err != nil {
			t.Fatal(err)
		}
		if rules(fs) != tc.want || !strings.Contains(fs[0].Message, tc.msg) {
			t.Errorf("%s on %s:\n got %s: %v\nwant %s containing %q", tc.doc, tc.k8s, rules(fs), fs, tc.want, tc.msg)
		}
	}
}

func TestStageOptions(t *testing.T) {
	no := false
	doc := `{apiVersion: v1, kind: ConfigMap, metadata: {name: a}, data: {a: b}, extra: 1}`
	lax, _, err := New(Options{Config: config.Schemas{Strict: &no}})
	if err != nil {
		t.Fatal(err)
	}
	if fs, _ := checkObjects(t, lax, "", doc); len(fs) != 0 {
		t.Errorf("strict: false still rejects unknown fields: %s", rules(fs))
	}
	skip, _, _ := New(Options{Config: config.Schemas{Skip: []string{"v1/ConfigMap"}, MissingSchema: "off"}})
	if fs, _ := checkObjects(t, skip, "", doc, `{apiVersion: x.io/v1, kind: Thing, metadata: {name: a}}`); len(fs) != 0 {
		t.Errorf("skip / missingSchema off: %s", rules(fs))
	}
	loud, _, _ := New(Options{Config: config.Schemas{MissingSchema: "error"}})
	if fs, _ := checkObjects(t, loud, "", `{apiVersion: x.io/v1, kind: Thing, metadata: {name: a}}`); rules(fs) != "error schema/missing-schema apiVersion" {
		t.Errorf("missingSchema error: %s", rules(fs))
	}
}

func TestMessagesAndMetadata(t *testing.T) {
	fs, err := checkObjects(t, testStage(t), "1.35", `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: Shop_Prod
  annotations:
    "bad key!": x
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {"app": "web", "-bad": "x"}
    spec:
      containers:
        - name: web
          image: nginx
          ports:
            - containerPort: "8080"
          resources:
            limits: {memory: 512MB}
`)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`spec.template.spec.containers[0].ports[0].containerPort: got string, want integer`,
		`spec.template.spec.containers[0].resources.limits.memory: '512MB' does not match pattern`,
		`metadata.namespace: Invalid value: "Shop_Prod"`,
		`metadata.annotations["bad key!"]: Invalid value: "bad key!"`,
		`spec.template.metadata.labels.-bad: Invalid value: "-bad"`,
	}
	got := rules(fs) + "\n" + join(fs)
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("missing %q in\n%s", w, got)
		}
	}
	if len(fs) != len(want) {
		t.Errorf("got %d findings, want %d:\n%s", len(fs), len(want), got)
	}
}

// TestListKindObject: a List that reaches the stage whole (not split by
// the renderer) is split with kubeconform's resource package and each item
// validated, with the item index in the path.
func TestListKindObject(t *testing.T) {
	fs, err := checkObjects(t, testStage(t), "1.35", `apiVersion: v1
kind: List
items:
  - {apiVersion: v1, kind: ConfigMap, metadata: {name: ok}, data: {a: b}}
  - {apiVersion: v1, kind: Service, metadata: {name: bad}, spec: {ports: [{port: http}]}}
`)
	if err != nil {
		t.Fatal(err)
	}
	if rules(fs) != "error schema/invalid items[1].spec.ports[0].port" {
		t.Errorf("got %s", rules(fs))
	}
}

func TestPruneNullsDoesNotMutate(t *testing.T) {
	obj := map[string]any{"a": nil, "b": map[string]any{"c": nil, "d": 1}, "e": []any{map[string]any{"f": nil}}, "g": "x"}
	out := pruneNulls(obj).(map[string]any)
	if _, ok := obj["a"]; !ok {
		t.Error("input mutated")
	}
	if _, ok := obj["b"].(map[string]any)["c"]; !ok {
		t.Error("nested input mutated")
	}
	if _, ok := out["a"]; ok {
		t.Error("null kept")
	}
	if len(out["e"].([]any)[0].(map[string]any)) != 0 || out["g"] != "x" || out["b"].(map[string]any)["d"] != 1 {
		t.Errorf("pruned = %v", out)
	}
	same := map[string]any{"x": 1}
	if p := pruneNulls(same).(map[string]any); fmt.Sprintf("%p", p) != fmt.Sprintf("%p", same) {
		t.Error("an object without nulls was copied")
	}
}

func TestContextCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := &render.Result{Env: checks.Env{Name: "t"}, Resources: resourcesFromYAML(t, `{apiVersion: v1, kind: ConfigMap, metadata: {name: a}}`)}
	_, err := testStage(t).Check(ctx, &engine.Input{Env: res.Env, Head: res})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v", err)
	}
}

// TestBundlesAreCurrent guards the committed bundles: the generator's
// format matches, and every bundle parses and serves the core kinds.
func TestBundlesAreCurrent(t *testing.T) {
	b, _ := LoadBundles(nil)
	for _, m := range b.Versions() {
		v, err := b.Resolve(m)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"v1/Pod", "apps/v1/Deployment", "apiextensions.k8s.io/v1/CustomResourceDefinition", "networking.k8s.io/v1/Ingress"} {
			if _, ok := v.kinds[k]; !ok {
				t.Errorf("bundle %s lacks %s", m, k)
			}
		}
		if !strings.HasPrefix(v.full, "v"+m+".") {
			t.Errorf("bundle %s says it is %s", m, v.full)
		}
	}
	info, err := os.Stat("bundles")
	if err != nil || !info.IsDir() {
		t.Fatal("bundles directory missing")
	}
}

// TestMissingSchemaGroupedByKind: custom resources without a schema are one
// warning per kind (on the first object, naming how many and which), so
// hundreds of them do not bury the findings that matter; a kind with one
// object keeps its own finding.
func TestMissingSchemaGroupedByKind(t *testing.T) {
	st, _, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	var docs []string
	for i := range 7 {
		docs = append(docs, fmt.Sprintf(`{apiVersion: x.io/v1, kind: Thing, metadata: {name: t%d}}`, i))
	}
	docs = append(docs, `{apiVersion: y.io/v1, kind: Other, metadata: {name: only}}`, `{apiVersion: v1, kind: ConfigMap, metadata: {name: a}, extra: 1}`)
	fs, err := checkObjects(t, st, "", docs...)
	if err != nil {
		t.Fatal(err)
	}
	var thing, other *checks.Finding
	for i := range fs {
		if fs[i].RuleID == RuleMissingSchema && fs[i].Resource.Kind == "Thing" {
			thing = &fs[i]
		}
		if fs[i].RuleID == RuleMissingSchema && fs[i].Resource.Kind == "Other" {
			other = &fs[i]
		}
	}
	if thing == nil || other == nil || len(fs) != 3 {
		t.Fatalf("want one grouped Thing, one Other and the ConfigMap error, got %s", rules(fs))
	}
	if thing.Resource.String() != "Thing/*" || thing.Severity != checks.SeverityWarning ||
		!strings.HasPrefix(thing.Message, "7 objects of this kind (Thing/t0, Thing/t1, Thing/t2, Thing/t3, Thing/t4 and 2 more): no schema for x.io/v1 Thing") {
		t.Errorf("grouped finding: %s %s", thing.Resource, thing.Message)
	}
	if other.Resource.String() != "Other/only" || strings.Contains(other.Message, "objects of this kind") {
		t.Errorf("a single object keeps its finding: %s %s", other.Resource, other.Message)
	}
}
