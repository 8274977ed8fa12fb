package rego

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

func TestRefusedBuiltinsFailAtLoad(t *testing.T) {
	cases := []struct {
		name, src string
		line      int
		want      string
	}{
		{"http.send", "package main\n\ndeny contains msg if {\n\tresp := http.send({\"method\": \"get\", \"url\": \"https://example.com\"})\n\tmsg := resp.body\n}\n", 4, "http.send is not allowed"},
		{"net.lookup_ip_addr", "package main\n\ndeny contains msg if {\n\taddrs := net.lookup_ip_addr(\"example.com\")\n\tmsg := sprintf(\"%v\", [addrs])\n}\n", 4, "net.lookup_ip_addr is not allowed"},
		{"opa.runtime", "package main\n\ndeny contains msg if {\n\tmsg := opa.runtime().env.HOME\n}\n", 4, "opa.runtime is not allowed"},
		{"time.now_ns", "package main\n\ndeny contains msg if {\n\ttime.now_ns() > 0\n\tmsg := \"late\"\n}\n", 4, "time.now_ns is not allowed"},
		{"rand.intn", "package main\n\ndeny contains msg if {\n\trand.intn(\"x\", 10) == 3\n\tmsg := \"unlucky\"\n}\n", 4, "rand.intn is not allowed"},
		{"uuid.rfc4122", "package main\n\ndeny contains msg if {\n\tmsg := uuid.rfc4122(\"k\")\n}\n", 4, "uuid.rfc4122 is not allowed"},
		{"io.jwt.decode_verify", "package main\n\ndeny contains \"expired\" if {\n\t[ok, _, _] := io.jwt.decode_verify(input.token, {\"secret\": \"s\"})\n\tnot ok\n}\n", 4, "io.jwt.decode_verify is not allowed in gate policies: it checks expiry against the current time"},
		{"json.match_schema", "package main\n\ndeny contains \"bad\" if {\n\t[ok, _] := json.match_schema(input, {\"$ref\": \"https://schemas.example.com/x.json\"})\n\tnot ok\n}\n", 4, "json.match_schema is not allowed in gate policies: it can fetch remote $ref schemas"},
		{"v0 http.send", "package main\n\ndeny[msg] {\n\tresp := http.send({\"method\": \"get\", \"url\": \"https://example.com\"})\n\tmsg := resp.body\n}\n", 4, "http.send is not allowed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, probs := Compile([]File{{Path: "policy/net.rego", Src: []byte(tc.src)}}, CompileOptions{})
			if c != nil || len(probs) == 0 {
				t.Fatalf("policy calling %s compiled", tc.name)
			}
			p := probs[0]
			if p.File != "policy/net.rego" || p.Line != tc.line || !strings.Contains(p.Msg, tc.want) {
				t.Fatalf("problem = %s, want policy/net.rego:%d %q", p.Error(), tc.line, tc.want)
			}
		})
	}
}

// TestCapabilitiesLeaveOutEveryNondeterministicBuiltin: whatever OPA marks
// non-deterministic (network, clock, randomness) is not in the capabilities
// gate compiles with, and Refused explains each one.
func TestCapabilitiesLeaveOutEveryNondeterministicBuiltin(t *testing.T) {
	kept := map[string]bool{}
	for _, b := range Capabilities().Builtins {
		kept[b.Name] = true
		if b.Nondeterministic {
			t.Errorf("capabilities keep non-deterministic builtin %s", b.Name)
		}
	}
	refusedNow := Refused()
	for _, name := range []string{"http.send", "net.lookup_ip_addr", "opa.runtime", "time.now_ns", "rand.intn", "uuid.rfc4122", "io.jwt.encode_sign", "io.jwt.decode_verify", "json.match_schema", "json.verify_schema"} {
		if kept[name] {
			t.Errorf("%s is in the capabilities", name)
		}
		if refusedNow[name] == "" {
			t.Errorf("Refused() has no reason for %s", name)
		}
	}
	for name, b := range ast.BuiltinMap {
		if b.Nondeterministic && refusedNow[name] == "" {
			t.Errorf("non-deterministic %s is not listed by Refused()", name)
		}
	}
	// The pure builtins a manifest policy needs stay.
	for _, name := range []string{"sprintf", "regex.match", "net.cidr_contains", "time.parse_rfc3339_ns", "units.parse_bytes", "io.jwt.decode", "yaml.unmarshal", "glob.match"} {
		if !kept[name] {
			t.Errorf("pure builtin %s was removed", name)
		}
	}
	if len(Capabilities().AllowNet) != 0 || Capabilities().AllowNet == nil {
		t.Errorf("AllowNet = %v, want an empty (deny-all) list", Capabilities().AllowNet)
	}
}

func TestPureNetHelpersStayAvailable(t *testing.T) {
	src := "package main\n\ndeny contains \"public\" if not net.cidr_contains(\"10.0.0.0/8\", input.ip)\n"
	c, probs := Compile([]File{{Path: "p.rego", Src: []byte(src)}}, CompileOptions{})
	if len(probs) > 0 {
		t.Fatalf("net.cidr_contains refused: %v", probs)
	}
	q, err := c.Prepare(context.Background(), "x := data.main.deny", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := q.Eval(context.Background(), ast.MustInterfaceToValue(map[string]any{"ip": "8.8.8.8"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := rs[0].Bindings["x"].([]any); len(got) != 1 || got[0] != "public" {
		t.Fatalf("deny = %v", got)
	}
}

func TestSyntaxErrorsAreLocated(t *testing.T) {
	src := "package main\n\ndeny contains msg if {\n\tmsg := \n}\n"
	_, probs := Compile([]File{{Path: "policy/bad.rego", Src: []byte(src)}}, CompileOptions{})
	if len(probs) == 0 || probs[0].File != "policy/bad.rego" || probs[0].Line == 0 {
		t.Fatalf("problems = %v", probs)
	}
}

func TestLineOffsetForEmbeddedRego(t *testing.T) {
	src := "package x\n\nviolation[{\"msg\": m}] {\n  m := http.send({})\n}\n"
	_, probs := Compile([]File{{Path: "templates.yaml", ID: "templates.yaml#0", Src: []byte(src), LineOffset: 10, Version: ast.RegoV0}}, CompileOptions{})
	if len(probs) == 0 || probs[0].File != "templates.yaml" || probs[0].Line != 14 {
		t.Fatalf("problems = %v, want templates.yaml:14", probs)
	}
}

func TestV0Detected(t *testing.T) {
	src := "package main\n\ndeny[msg] {\n  input.kind == \"Pod\"\n  msg := \"no pods\"\n}\n"
	c, probs := Compile([]File{{Path: "old.rego", Src: []byte(src)}}, CompileOptions{})
	if len(probs) > 0 {
		t.Fatalf("v0 policy refused: %v", probs)
	}
	if c.Modules["old.rego"].RegoVersion() != ast.RegoV0 {
		t.Fatal("not parsed as v0")
	}
}

func TestRuntimeErrorIsLocated(t *testing.T) {
	src := "package main\n\nname := input.metadata.name\n\nname := \"other\" if input.kind == \"Pod\"\n\ndeny contains name if input.kind == \"Pod\"\n"
	c, probs := Compile([]File{{Path: "policy/conflict.rego", Src: []byte(src)}}, CompileOptions{})
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	q, err := c.Prepare(context.Background(), "x := data.main.deny", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = q.Eval(context.Background(), ast.MustInterfaceToValue(map[string]any{"kind": "Pod", "metadata": map[string]any{"name": "a"}}))
	var ee *EvalError
	if !errors.As(err, &ee) || ee.Timeout || ee.File != "policy/conflict.rego" || ee.Line == 0 || ee.Code != "eval_conflict_error" {
		t.Fatalf("err = %#v", err)
	}
}

func TestLoopingPolicyHitsDeadline(t *testing.T) {
	src := `package main

deny contains msg if {
	some i in numbers.range(1, 100000)
	some j in numbers.range(1, 100000)
	i * j == -1
	msg := "never"
}
`
	c, probs := Compile([]File{{Path: "policy/loop.rego", Src: []byte(src)}}, CompileOptions{})
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	q, err := c.Prepare(context.Background(), "x := data.main.deny", nil, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = q.Eval(context.Background(), ast.MustInterfaceToValue(map[string]any{}))
	var ee *EvalError
	if !errors.As(err, &ee) || !ee.Timeout {
		t.Fatalf("err = %v, want timeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("deadline not enforced: took %s", d)
	}
}

func TestDataAndRulesShareTheGateNamespace(t *testing.T) {
	src := "package gate.builtin.x\n\ndeny contains data.gate.env.name if input.kind == \"Pod\"\n"
	c, probs := Compile([]File{{Path: "x.rego", Src: []byte(src)}}, CompileOptions{})
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	q, err := c.Prepare(context.Background(), "x := data.gate.builtin.x.deny", map[string]any{"gate": map[string]any{"env": map[string]any{"name": "prod"}}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := q.Eval(context.Background(), ast.MustInterfaceToValue(map[string]any{"kind": "Pod"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := rs[0].Bindings["x"].([]any); len(got) != 1 || got[0] != "prod" {
		t.Fatalf("deny = %v", got)
	}
}

func TestRunTestsReportsPassFailAndCoverage(t *testing.T) {
	pol := "package main\n\ndeny contains \"latest\" if endswith(input.image, \":latest\")\n\ndeny contains \"root\" if input.user == 0\n"
	tests := "package main_test\n\nimport data.main\n\ntest_latest if main.deny[\"latest\"] with input as {\"image\": \"a:latest\"}\n\ntest_wrong if main.deny[\"latest\"] with input as {\"image\": \"a:1\"}\n"
	rep, probs := RunTests(context.Background(), []File{
		{Path: "policy/main.rego", Src: []byte(pol)},
		{Path: "policy/main_test.rego", Src: []byte(tests)},
	}, TestOptions{Coverage: true})
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	if len(rep.Results) != 2 || rep.Failed() != 1 {
		t.Fatalf("results = %+v", rep.Results)
	}
	if rep.Results[0].Name != "test_latest" || !rep.Results[0].Pass || rep.Results[1].Pass || rep.Results[1].Line != 7 {
		t.Fatalf("results = %+v", rep.Results)
	}
	if len(rep.Coverage) != 1 || rep.Coverage[0].File != "policy/main.rego" || len(rep.Coverage[0].NotCoveredLines) == 0 || rep.Coverage[0].NotCoveredLines[0] != 5 {
		t.Fatalf("coverage = %+v", rep.Coverage)
	}
}

// TestSyntaxErrorOfTheFilesDialect: a Rego v0 file with a syntax error
// reports that error, not the v1 parser's complaint about the v0 syntax on
// an earlier line (and the other way round).
func TestSyntaxErrorOfTheFilesDialect(t *testing.T) {
	v0 := "package main\n\ndeny[msg] {\n\tinput.kind == \"Pod\"\n\tmsg := \"no pods\"\n}\n\nwarn[msg] {\n\tmsg := concat(\",\", [\n}\n"
	_, probs := Compile([]File{{Path: "old.rego", Src: []byte(v0)}}, CompileOptions{})
	if len(probs) != 1 || probs[0].Line < 9 {
		t.Fatalf("v0 file: %v, want the error at line 9-10", probs)
	}
	v1 := "package main\n\ndeny contains msg if {\n\tinput.kind == \"Pod\"\n\tmsg := \"no pods\"\n}\n\nwarn contains msg if {\n\tmsg := concat(\",\", [\n}\n"
	_, probs = Compile([]File{{Path: "new.rego", Src: []byte(v1)}}, CompileOptions{})
	if len(probs) != 1 || probs[0].Line < 9 {
		t.Fatalf("v1 file: %v, want the error at line 9-10", probs)
	}
}
