package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	jsonschema "github.com/santhosh-tekuri/jsonschema/v6"
)

// miniSpec is a cut-down Kubernetes OpenAPI v2 spec with the shapes the
// real one has: a kind with its group-version-kind, shared ObjectMeta,
// int-or-string, Quantity, a meta type listed under many kinds, and an
// object that preserves unknown fields.
const miniSpec = `{
  "swagger": "2.0",
  "definitions": {
    "io.k8s.api.core.v1.ConfigMap": {
      "description": "ConfigMap holds configuration data.",
      "type": "object",
      "properties": {
        "apiVersion": {"type": "string", "description": "APIVersion defines..."},
        "kind": {"type": "string"},
        "metadata": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "description": "ignored sibling"},
        "data": {"type": "object", "additionalProperties": {"type": "string"}},
        "immutable": {"type": "boolean"}
      },
      "x-kubernetes-group-version-kind": [{"group": "", "kind": "ConfigMap", "version": "v1"}]
    },
    "io.k8s.api.apps.v1.Deployment": {
      "type": "object",
      "required": ["spec"],
      "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
        "spec": {
          "type": "object",
          "properties": {
            "replicas": {"type": "integer", "format": "int32"},
            "maxSurge": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.util.intstr.IntOrString"},
            "memory": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.api.resource.Quantity"},
            "extra": {"type": "object", "properties": {"known": {"type": "string"}}, "x-kubernetes-preserve-unknown-fields": true}
          }
        }
      },
      "x-kubernetes-group-version-kind": [{"group": "apps", "kind": "Deployment", "version": "v1"}]
    },
    "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta": {
      "type": "object",
      "properties": {
        "name": {"type": "string"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}}
      }
    },
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"type": "string", "format": "int-or-string"},
    "io.k8s.apimachinery.pkg.api.resource.Quantity": {"type": "string", "description": "Quantity is a fixed-point number."},
    "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions": {
      "type": "object",
      "properties": {"gracePeriodSeconds": {"type": "integer"}},
      "x-kubernetes-group-version-kind": [
        {"group": "", "kind": "DeleteOptions", "version": "v1"},
        {"group": "apps", "kind": "DeleteOptions", "version": "v1"}
      ]
    }
  }
}`

func convertMini(t *testing.T) Bundle {
	t.Helper()
	raw, err := Convert([]byte(miniSpec), "v1.35.4")
	if err != nil {
		t.Fatal(err)
	}
	var b Bundle
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestConvertIndexAndStrictness(t *testing.T) {
	b := convertMini(t)
	if b.Format != BundleFormat || b.KubernetesVersion != "v1.35.4" || b.Schema != "http://json-schema.org/draft-04/schema#" {
		t.Errorf("header: format %d, version %s, $schema %s", b.Format, b.KubernetesVersion, b.Schema)
	}
	wantKinds := map[string]string{"v1/ConfigMap": "io.k8s.api.core.v1.ConfigMap", "apps/v1/Deployment": "io.k8s.api.apps.v1.Deployment"}
	if len(b.Kinds) != len(wantKinds) {
		t.Errorf("kinds = %v (meta types listed under many groups are not kinds)", b.Kinds)
	}
	for k, v := range wantKinds {
		if b.Kinds[k] != v {
			t.Errorf("kinds[%s] = %q, want %q", k, b.Kinds[k], v)
		}
	}
	out, _ := json.Marshal(b.Definitions)
	if strings.Contains(string(out), "description") || strings.Contains(string(out), "x-kubernetes") {
		t.Errorf("descriptions or extensions kept: %s", out)
	}
	cm := b.Definitions["io.k8s.api.core.v1.ConfigMap"].(map[string]any)
	if cm["additionalProperties"] != false {
		t.Errorf("ConfigMap is not strict: %v", cm)
	}
	if md := cm["properties"].(map[string]any)["metadata"].(map[string]any); len(md) != 1 || md["$ref"] == nil {
		t.Errorf("$ref kept its siblings: %v", md)
	}
	ios := b.Definitions["io.k8s.apimachinery.pkg.util.intstr.IntOrString"].(map[string]any)
	if _, hasFormat := ios["format"]; hasFormat || !equalJSON(ios["type"], []any{"integer", "string"}) {
		t.Errorf("IntOrString = %v", ios)
	}
	q := b.Definitions["io.k8s.apimachinery.pkg.api.resource.Quantity"].(map[string]any)
	if q["pattern"] != QuantityPattern || !equalJSON(q["type"], []any{"string", "number"}) {
		t.Errorf("Quantity = %v", q)
	}
	extra := b.Definitions["io.k8s.api.apps.v1.Deployment"].(map[string]any)["properties"].(map[string]any)["spec"].(map[string]any)["properties"].(map[string]any)["extra"].(map[string]any)
	if _, strict := extra["additionalProperties"]; strict {
		t.Errorf("preserve-unknown-fields object made strict: %v", extra)
	}
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// TestConvertedSchemasValidate compiles the generated bundle the way
// checks/schema does (draft-04, nothing fetched) and validates objects:
// the bundle is not just well-formed, it accepts and rejects what the API
// server would.
func TestConvertedSchemasValidate(t *testing.T) {
	raw, err := Convert([]byte(miniSpec), "v1.35.4")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft4)
	if err := c.AddResource("gate:///k.json", doc); err != nil {
		t.Fatal(err)
	}
	deploy, err := c.Compile("gate:///k.json#/definitions/io.k8s.api.apps.v1.Deployment")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, obj string
		valid     bool
	}{
		{"valid", `{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "a", "labels": {"x": "y"}}, "spec": {"replicas": 2, "maxSurge": "25%", "memory": "512Mi"}}`, true},
		{"int-or-string as int", `{"spec": {"maxSurge": 1}}`, true},
		{"quantity as number", `{"spec": {"memory": 1024}}`, true},
		{"preserved unknown fields", `{"spec": {"extra": {"known": "a", "anything": {"b": 1}}}}`, true},
		{"missing required spec", `{"kind": "Deployment"}`, false},
		{"unknown field", `{"spec": {"replica": 2}}`, false},
		{"unknown metadata field", `{"spec": {}, "metadata": {"nmae": "a"}}`, false},
		{"wrong type", `{"spec": {"replicas": "two"}}`, false},
		{"bad quantity", `{"spec": {"memory": "512MB"}}`, false},
		{"int-or-string as bool", `{"spec": {"maxSurge": true}}`, false},
		{"label value not a string", `{"spec": {}, "metadata": {"labels": {"x": 1}}}`, false},
	}
	for _, tc := range tests {
		inst, err := jsonschema.UnmarshalJSON(strings.NewReader(tc.obj))
		if err != nil {
			t.Fatal(err)
		}
		err = deploy.Validate(inst)
		if (err == nil) != tc.valid {
			t.Errorf("%s: valid=%v, want %v (%v)", tc.name, err == nil, tc.valid, err)
		}
	}
}

func TestConvertRejectsEmptySpecs(t *testing.T) {
	for name, spec := range map[string]string{
		"not json":       `{"swagger":`,
		"no definitions": `{"swagger": "2.0", "definitions": {}}`,
		"no kinds":       `{"swagger": "2.0", "definitions": {"a.B": {"type": "object"}}}`,
	} {
		if _, err := Convert([]byte(spec), "v1.35.0"); err == nil {
			t.Errorf("%s: converted", name)
		}
	}
}

func TestMinorOf(t *testing.T) {
	for in, want := range map[string]string{"v1.35.4": "1.35", "1.34": "1.34", "v1.37.0": "1.37"} {
		if got, err := MinorOf(in); err != nil || got != want {
			t.Errorf("MinorOf(%s) = %s, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "latest", "v1", "v1.35.4-rc.1"} {
		if _, err := MinorOf(bad); err == nil {
			t.Errorf("MinorOf(%q) accepted", bad)
		}
	}
}

// TestGenerateFromSpecFile runs the generator offline (-spec) and checks
// the file it writes: named by minor version, gzipped reproducibly (the
// same spec gives the same bytes, so regenerated bundles diff cleanly).
func TestGenerateFromSpecFile(t *testing.T) {
	dir := t.TempDir()
	spec := filepath.Join(dir, "swagger.json")
	if err := os.WriteFile(spec, []byte(miniSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := generate(dir, "v1.35.4", spec); err != nil {
		t.Fatal(err)
	}
	first, err := os.ReadFile(filepath.Join(dir, "kubernetes-1.35.json.gz"))
	if err != nil {
		t.Fatal(err)
	}
	if err := generate(dir, "v1.35.4", spec); err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(filepath.Join(dir, "kubernetes-1.35.json.gz"))
	if !bytes.Equal(first, second) {
		t.Error("two runs wrote different bytes")
	}
	zr, err := gzip.NewReader(bytes.NewReader(first))
	if err != nil {
		t.Fatal(err)
	}
	if zr.Name != "" || !zr.ModTime.IsZero() {
		t.Errorf("gzip header carries name %q / time %v", zr.Name, zr.ModTime)
	}
	raw, _ := io.ReadAll(zr)
	var b Bundle
	if err := json.Unmarshal(raw, &b); err != nil || b.Kinds["apps/v1/Deployment"] == "" {
		t.Fatalf("bundle: %v %v", err, b.Kinds)
	}
	if err := generate(dir, "not-a-version", spec); err == nil {
		t.Error("a bad version was accepted")
	}
}
