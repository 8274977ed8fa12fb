package rego

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSchemaAnnotationRefs: a # METADATA schema that names another
// document is a problem on the line naming it, and the document is never
// opened; self-contained schemas still type-check.
func TestSchemaAnnotationRefs(t *testing.T) {
	dir := t.TempDir()
	host := filepath.Join(dir, "host.json")
	// A schema OPA would use to type-check: if it were loaded, input.x == 1
	// would be a type error, not the problem below.
	if err := os.WriteFile(host, []byte(`{"type": "object", "properties": {"x": {"type": "string"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	head := "package p\n\n# METADATA\n# schemas:\n"
	for _, tc := range []struct {
		name, schemas string
		line          int
		msg           string // "" when it compiles
		offset        int
	}{
		{name: "file url", schemas: "#   - input: {\"$ref\": \"file://" + host + "\"}\n", line: 5, msg: "a file URL"},
		{name: "block style", schemas: "#   - input:\n#       type: object\n#       $ref: file://" + host + "\n", line: 7, msg: "a file URL"},
		{name: "http", schemas: "#   - input.x: {\"$ref\": \"http://127.0.0.1:1/s.json\"}\n", line: 5, msg: "a http URL"},
		{name: "relative file", schemas: "#   - input: {\"$ref\": \"s.json\"}\n", line: 5, msg: "names a file"},
		{name: "nested", schemas: "#   - input: {\"properties\": {\"a\": {\"items\": [{\"$ref\": \"/etc/passwd\"}]}}}\n", line: 5, msg: "names a file"},
		{name: "id rebases", schemas: "#   - input: {\"$id\": \"file:///etc/\", \"properties\": {\"x\": {\"$ref\": \"#/definitions/passwd\"}}}\n", line: 5, msg: "$id"},
		{name: "schema key", schemas: "#   - input: {\"$schema\": \"file:///etc/passwd\"}\n", line: 5, msg: "$schema"},
		{name: "offset in yaml", schemas: "#   - input: {\"$ref\": \"file:///etc/passwd\"}\n", line: 25, offset: 20, msg: "a file URL"},
		{name: "local refs compile", schemas: "#   - input: {\"definitions\": {\"s\": {\"type\": \"object\"}}, \"$ref\": \"#/definitions/s\"}\n"},
		{name: "draft url", schemas: "#   - input: {\"$schema\": \"http://json-schema.org/draft-07/schema#\", \"type\": \"object\"}\n"},
		{name: "property named id", schemas: "#   - input: {\"properties\": {\"id\": {\"type\": \"string\"}, \"x\": {\"type\": \"number\"}}}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := head + tc.schemas + "allow if input.x == 1\n"
			_, probs := Compile([]File{{Path: "policy/p.rego", Src: []byte(src), LineOffset: tc.offset}}, CompileOptions{})
			if tc.msg == "" {
				if len(probs) > 0 {
					t.Fatalf("problems %v, want none", probs)
				}
				return
			}
			if len(probs) != 1 || probs[0].File != "policy/p.rego" || probs[0].Line != tc.line || !strings.Contains(probs[0].Msg, tc.msg) {
				t.Fatalf("problems %v, want one at policy/p.rego:%d containing %q", probs, tc.line, tc.msg)
			}
			_, probs = RunTests(context.Background(), []File{{Path: "policy/p.rego", Src: []byte(src)}}, TestOptions{})
			if len(probs) != 1 || !strings.Contains(probs[0].Msg, tc.msg) {
				t.Errorf("the test runner compiled it: %v", probs)
			}
		})
	}
}
