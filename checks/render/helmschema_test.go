package render

import (
	"errors"
	"strings"
	"testing"

	chartcommon "helm.sh/helm/v4/pkg/chart/common"
	chartutil "helm.sh/helm/v4/pkg/chart/common/util"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
)

func schemaChart(schema string, files map[string]string) *chartv2.Chart {
	ch := &chartv2.Chart{Metadata: &chartv2.Metadata{Name: "app", Version: "0.1.0", APIVersion: "v2"}, Schema: []byte(schema)}
	ch.Raw = append(ch.Raw, &chartcommon.File{Name: "values.schema.json", Data: []byte(schema)})
	for n, d := range files {
		ch.Raw = append(ch.Raw, &chartcommon.File{Name: n, Data: []byte(d)})
	}
	return ch
}

// TestChartSchemaRefs: a $ref that leaves the chart is a finding on its
// line and nothing is loaded; one inside the chart is followed.
func TestChartSchemaRefs(t *testing.T) {
	for _, tc := range []struct {
		name, schema string
		files        map[string]string
		values       map[string]any
		line         int    // the RefError's line; 0: no RefError
		msg          string // in the error
	}{
		{name: "file url", schema: "{\n\"properties\": {\"a\": {\"$ref\": \"file:///etc/passwd\"}}}", line: 2, msg: "a file URL"},
		{name: "http url", schema: "{\"$ref\":\n\"http://127.0.0.1:1/x.json\"}", line: 2, msg: "a http URL"},
		{name: "protocol relative", schema: `{"$ref": "//example.com/x.json"}`, line: 1, msg: "a network URL"},
		{name: "absolute path", schema: `{"$ref": "/etc/passwd"}`, line: 1, msg: "an absolute path"},
		{name: "dotdot", schema: `{"$ref": "a/../../x.json"}`, line: 1, msg: "leaves the chart"},
		{name: "dynamic ref", schema: "{\n\n\"$dynamicRef\": \"https://example.com/s#m\"}", line: 3, msg: "a https URL"},
		{name: "id rebases a relative ref", schema: "{\"$id\": \"https://example.com/v.json\",\n\"$ref\": \"d.json\"}", line: 2, msg: "https URL"},
		{name: "missing in chart", schema: "{\n\"$ref\": \"nope.json\"}", line: 2, msg: "nope.json is not a file of chart app"},
		{name: "in chart", schema: `{"$ref": "defs/d.json#/$defs/x"}`, files: map[string]string{"defs/d.json": `{"$defs": {"x": {"type": "object", "required": ["replicas"]}}}`},
			values: map[string]any{}, msg: "missing property 'replicas'"},
		{name: "urn", schema: `{"$ref": "urn:example:x"}`, values: map[string]any{}},
		{name: "local fragment", schema: `{"$defs": {"x": {"type": "string"}}, "properties": {"a": {"$ref": "#/$defs/x"}}}`, values: map[string]any{"a": 1}, msg: "want string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := validateChartSchemas(schemaChart(tc.schema, tc.files), tc.values, "chart")
			var re *RefError
			if tc.line > 0 {
				if !errors.As(err, &re) {
					t.Fatalf("error %v, want a finding on line %d", err, tc.line)
				}
				if re.File != "chart/values.schema.json" || re.Line != tc.line || !strings.Contains(re.Msg, tc.msg) {
					t.Errorf("finding %s:%d %q, want chart/values.schema.json:%d containing %q", re.File, re.Line, re.Msg, tc.line, tc.msg)
				}
				return
			}
			if errors.As(err, &re) {
				t.Fatalf("unexpected finding %v", re)
			}
			if tc.msg == "" {
				if err != nil {
					t.Fatalf("values rejected: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %v, want one containing %q", err, tc.msg)
			}
		})
	}
}

// TestChartSchemaParity: for schemas that load nothing, gate's validation
// says exactly what Helm's does.
func TestChartSchemaParity(t *testing.T) {
	for _, tc := range []struct {
		schema string
		values map[string]any
	}{
		{`{"type": "object", "properties": {"replicas": {"type": "integer", "maximum": 3}}}`, map[string]any{"replicas": 5}},
		{`{"$schema": "http://json-schema.org/draft-07/schema#", "required": ["image"]}`, map[string]any{}},
		{`{"properties": {"a": {"$ref": "#/definitions/s"}}, "definitions": {"s": {"enum": ["x", "y"]}}}`, map[string]any{"a": "z"}},
		{`{"type": "object"}`, map[string]any{"a": 1}},
	} {
		ch := schemaChart(tc.schema, nil)
		sub := schemaChart(`{"required": ["port"]}`, nil)
		sub.Metadata.Name = "sub"
		ch.AddDependency(sub)
		vals := map[string]any{"sub": map[string]any{}}
		for k, v := range tc.values {
			vals[k] = v
		}
		want := chartutil.ValidateAgainstSchema(ch, vals)
		got := validateChartSchemas(ch, vals, "chart")
		if (want == nil) != (got == nil) || (want != nil && want.Error() != got.Error()) {
			t.Errorf("schema %s:\n gate: %v\n helm: %v", tc.schema, got, want)
		}
	}
}
