package schema

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/engine"
	"github.com/gate-ops/gate/checks/render"
)

func crd(schema string) string {
	return `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: things.x.io}
spec:
  group: x.io
  scope: Namespaced
  names: {kind: Thing, plural: things}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema: ` + schema
}

func TestCRDSchemaSemantics(t *testing.T) {
	schema := `
          type: object
          properties:
            spec:
              type: object
              properties:
                port: {x-kubernetes-int-or-string: true}
                size: {type: string, nullable: true}
                count: {type: integer, minimum: 1}
                extra: {type: object, x-kubernetes-preserve-unknown-fields: true}
                template:
                  type: object
                  x-kubernetes-embedded-resource: true
                  properties:
                    spec: {type: object, x-kubernetes-preserve-unknown-fields: true}
                empty: {type: object}
                every: {type: string, format: duration}
                tags: {type: array, items: {type: string, maxLength: 3}}`
	tests := []struct {
		name, spec, want string
	}{
		{"int-or-string int", `{port: 80}`, ""},
		{"int-or-string string", `{port: http}`, ""},
		{"int-or-string bool", `{port: true}`, "spec.port: got boolean, want integer or string"},
		{"nullable", `{size: null}`, ""},
		{"minimum", `{count: 0}`, "spec.count: minimum: got 0, want 1"},
		{"preserve unknown fields", `{extra: {anything: [1, 2]}}`, ""},
		{"embedded resource", `{template: {apiVersion: v1, kind: Pod, metadata: {name: p}, spec: {x: 1}}}`, ""},
		{"embedded resource strict", `{template: {apiVersion: v1, kind: Pod, bogus: 1}}`, `spec.template.bogus: unknown field "bogus"`},
		{"object without properties prunes nothing silently", `{empty: {a: 1}}`, `spec.empty.a: unknown field "a"`},
		{"unknown field", `{colour: red}`, `spec.colour: unknown field "colour"`},
		{"duration Go", `{every: 1h30m}`, ""},
		{"duration ISO", `{every: PT5M}`, ""},
		{"duration bad", `{every: soon}`, "spec.every: 'soon' is not valid duration"},
		{"array items", `{tags: [ok, toolong]}`, "spec.tags[1]: maxLength: got 7, want 3"},
	}
	def := crd(schema)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs, err := checkObjects(t, testStage(t), "1.35", def, `{apiVersion: x.io/v1, kind: Thing, metadata: {name: t}, spec: `+tc.spec+`}`)
			if err != nil {
				t.Fatal(err)
			}
			var msgs []string
			for _, f := range fs {
				msgs = append(msgs, f.Message)
			}
			got := strings.Join(msgs, "; ")
			if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestConvertedCRDIsDraft04(t *testing.T) {
	vs, err := crdVersions(mapOf(t, crd(`{type: object, properties: {spec: {type: object, properties: {n: {type: integer, nullable: true, enum: [1, 2]}}}}}`)), 0)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(vs[0].Schema)
	for _, want := range []string{`"$schema":"http://json-schema.org/draft-04/schema#"`, `"additionalProperties":false`, `"type":["integer","null"]`, `"enum":[1,2,null]`, `"metadata":{"type":"object"}`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("converted schema lacks %s: %s", want, b)
		}
	}
}

func mapOf(t *testing.T, doc string) map[string]any {
	t.Helper()
	return resourcesFromYAML(t, doc)[0].Object
}

// TestHostileCRDSchemas: a schema nested a thousand deep, one that expands
// past the node limit through shared subtrees (what YAML aliases build),
// and one with a $ref all end quickly with a finding on the CRD, never a
// hang or a crash; the custom resource is then reported as missing a
// schema instead of being skipped.
func TestHostileCRDSchemas(t *testing.T) {
	deep := map[string]any{"type": "string"}
	for range 1000 {
		deep = map[string]any{"type": "object", "properties": map[string]any{"a": deep}}
	}
	wide := map[string]any{"type": "string"}
	// 2^13 paths, over this stage's node limit (the default limit works the
	// same, only slower to reach).
	for range 13 {
		wide = map[string]any{"type": "object", "properties": map[string]any{"l": wide, "r": wide}}
	}
	ref := map[string]any{"type": "object", "properties": map[string]any{"a": map[string]any{"$ref": "https://example.com/schema.json"}}}
	for name, schema := range map[string]map[string]any{"deep": deep, "wide": wide, "ref": ref} {
		t.Run(name, func(t *testing.T) {
			obj := mapOf(t, crd(`{type: object}`))
			obj["spec"].(map[string]any)["versions"].([]any)[0].(map[string]any)["schema"] = map[string]any{"openAPIV3Schema": schema}
			def := &checks.Resource{ID: checks.ResourceID{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition", Name: "things.x.io"}, Object: obj, Origin: checks.Origin{File: "crd.yaml", Line: 1}}
			cr := resourcesFromYAML(t, `{apiVersion: x.io/v1, kind: Thing, metadata: {name: t}}`)[0]
			res := &render.Result{Env: checks.Env{Name: "t", KubernetesVersion: "1.35"}, Resources: []*checks.Resource{def, cr}}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			start := time.Now()
			st, _, err := New(Options{MaxCRDNodes: 5000})
			if err != nil {
				t.Fatal(err)
			}
			fs, err := st.Check(ctx, &engine.Input{Env: res.Env, Head: res, All: []*render.Result{res}})
			if err != nil {
				t.Fatal(err)
			}
			if time.Since(start) > 10*time.Second {
				t.Errorf("took %s", time.Since(start))
			}
			var invalidCRD, missing bool
			for _, f := range fs {
				invalidCRD = invalidCRD || f.RuleID == RuleInvalidCRD && f.Origin.File == "crd.yaml"
				missing = missing || f.RuleID == RuleMissingSchema && f.Resource.Kind == "Thing"
			}
			if !invalidCRD || !missing {
				t.Errorf("want invalid-crd on the CRD and missing-schema on the Thing, got %s", rules(fs))
			}
		})
	}
}

// TestCRDVersions: served, deprecated and unserved versions; v1beta1 CRDs
// with one shared schema.
func TestCRDVersions(t *testing.T) {
	v1beta1 := mapOf(t, `apiVersion: apiextensions.k8s.io/v1beta1
kind: CustomResourceDefinition
metadata: {name: olds.x.io}
spec:
  group: x.io
  version: v1
  names: {kind: Old, plural: olds}
  validation:
    openAPIV3Schema: {type: object, properties: {spec: {type: object, properties: {a: {type: string}}}}}`)
	vs, err := crdVersions(v1beta1, 0)
	if err != nil || len(vs) != 1 || vs[0].APIVersion != "x.io/v1" || vs[0].Schema == nil || !vs[0].Served {
		t.Fatalf("v1beta1 CRD: %+v %v", vs, err)
	}
	if _, err := crdVersions(mapOf(t, `{apiVersion: apiextensions.k8s.io/v1, kind: CustomResourceDefinition, metadata: {name: x}, spec: {group: x.io}}`), 0); err == nil {
		t.Error("CRD without names.kind accepted")
	}
}
