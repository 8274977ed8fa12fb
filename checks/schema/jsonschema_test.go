package schema

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/gate-ops/gate/checks/config"
)

// serviceMonitorSchema is a kubeconform-catalog style schema (strict).
const serviceMonitorSchema = `{
  "$schema": "http://json-schema.org/draft-04/schema#",
  "type": "object",
  "required": ["spec"],
  "properties": {
    "apiVersion": {"type": "string"},
    "kind": {"type": "string"},
    "metadata": {"type": "object"},
    "spec": {
      "type": "object",
      "required": ["selector"],
      "additionalProperties": false,
      "properties": {
        "selector": {"type": "object"},
        "endpoints": {"type": "array", "items": {"type": "object", "additionalProperties": false, "properties": {"port": {"type": "string"}, "interval": {"type": "string", "pattern": "^[0-9]+[smh]$"}}}}
      }
    }
  },
  "additionalProperties": false
}`

// TestJSONSchemaFilesInSchemaPaths: kubeconform-style JSON schemas
// (KIND_VERSION.json in a directory named after the group) validate custom
// resources like CRDs do; files gate cannot use are findings.
func TestJSONSchemaFilesInSchemaPaths(t *testing.T) {
	fsys := fstest.MapFS{
		"schemas/monitoring.coreos.com/servicemonitor_v1.json": {Data: []byte(serviceMonitorSchema)},
		"schemas/flat/podmonitor_v1.json":                      {Data: []byte(strings.Replace(serviceMonitorSchema, `"required": ["selector"],`, "", 1))},
		"schemas/monitoring.coreos.com/ServiceMonitor.json":    {Data: []byte(serviceMonitorSchema)},
		"schemas/monitoring.coreos.com/remote_v1.json":         {Data: []byte(`{"$ref": "https://example.com/schema.json"}`)},
		"schemas/notes.json":                                   {Data: []byte(`{"owner": "platform"}`)},
	}
	st, finds, err := New(Options{Source: fsys, Config: config.Schemas{Paths: []string{"schemas"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(finds) != 2 || !strings.Contains(join(finds), "schemas/monitoring.coreos.com/ServiceMonitor.json:1: error schema/invalid-crd: JSON schema ServiceMonitor.json: name it KIND_VERSION.json") ||
		!strings.Contains(join(finds), "schemas/notes.json:1: error schema/invalid-crd: schemas.paths holds a document that is neither") {
		t.Fatalf("load findings:\n%s", join(finds))
	}
	tests := []struct{ doc, want, msg string }{
		{`{apiVersion: monitoring.coreos.com/v1, kind: ServiceMonitor, metadata: {name: ok}, spec: {selector: {}, endpoints: [{port: http, interval: 30s}]}}`, "", ""},
		{`{apiVersion: monitoring.coreos.com/v1, kind: ServiceMonitor, metadata: {name: bad}, spec: {selector: {}, endpoints: [{port: http, interval: 30 seconds, path: /m}]}}`,
			"error schema/invalid spec.endpoints[0].interval; error schema/invalid spec.endpoints[0].path", "does not match pattern"},
		{`{apiVersion: monitoring.coreos.com/v1, kind: ServiceMonitor, metadata: {name: nosel}, spec: {}}`, "error schema/invalid spec", `missing required field "selector"`},
		// A flat directory (no group): the schema serves the kind in any group.
		{`{apiVersion: monitoring.coreos.com/v1, kind: PodMonitor, metadata: {name: pm}, spec: {extra: 1}}`, "error schema/invalid spec.extra", "unknown field"},
		// Another version has no schema: still reported.
		{`{apiVersion: monitoring.coreos.com/v1alpha1, kind: ServiceMonitor, metadata: {name: old}, spec: {}}`, "warning schema/missing-schema apiVersion", "servicemonitor_v1alpha1.json"},
		// A schema with a remote $ref is not fetched: it does not compile.
		{`{apiVersion: monitoring.coreos.com/v1, kind: Remote, metadata: {name: r}}`, "error schema/invalid-crd apiVersion", "JSON schema schemas/monitoring.coreos.com/remote_v1.json does not compile"},
	}
	for _, tc := range tests {
		fs, err := checkObjects(t, st, "1.35", tc.doc)
		if err != nil {
			t.Fatal(err)
		}
		if rules(fs) != tc.want || (tc.msg != "" && !strings.Contains(join(fs), tc.msg)) {
			t.Errorf("%s:\n got %s\n%s\nwant %s containing %q", tc.doc, rules(fs), join(fs), tc.want, tc.msg)
		}
	}
}
