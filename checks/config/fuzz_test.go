package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzParse feeds arbitrary bytes to the gate.yaml loader, which reads the
// base commit's config on every run. Beyond not panicking it asserts: every
// error is a *Error naming the file and a line inside it; an accepted
// config holds what validate promises (named, unique, well-formed
// environments with paths; exceptions with rule, reason, a parseable expiry
// and their line); and a config survives being written back as YAML and
// read again unchanged.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			return
		}
		const file = "gate.yaml"
		// Lines as YAML counts them: LF, CR, CRLF, and NEL, LS, PS (YAML 1.1).
		lines := bytes.Count(data, []byte("\n")) + bytes.Count(data, []byte("\r")) - bytes.Count(data, []byte("\r\n")) + 1
		for _, br := range []string{"\u0085", "\u2028", "\u2029"} {
			lines += bytes.Count(data, []byte(br))
		}
		cfg, err := Parse(file, data)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %T is not a *config.Error: %v", err, err)
			}
			if ce.File != file || !strings.HasPrefix(err.Error(), file+":") || ce.Msg == "" {
				t.Fatalf("error does not name the file or says nothing: %v", err)
			}
			if ce.Line < 1 || ce.Line > lines {
				t.Fatalf("error at line %d, the file has %d lines: %v", ce.Line, lines, err)
			}
			return
		}
		if cfg.File != file {
			t.Fatalf("config from %q, want %q", cfg.File, file)
		}
		checkValid(t, cfg)

		// Round trip: what gate would print as the effective config reads
		// back as the same config.
		out, err := yaml.Marshal(cfg)
		if err != nil {
			t.Fatalf("accepted config cannot be written back: %v", err)
		}
		again, err := Parse(file, out)
		if err != nil {
			t.Fatalf("accepted config written back does not parse: %v\n%s", err, out)
		}
		a, b := jsonOf(t, cfg), jsonOf(t, again)
		if a != b {
			t.Fatalf("config changed on a round trip:\nwas %s\nnow %s\nyaml:\n%s", a, b, out)
		}
	})
}

func checkValid(t *testing.T, cfg *Config) {
	t.Helper()
	if cfg.APIVersion != "" && cfg.APIVersion != "gate/v1" {
		t.Fatalf("apiVersion %q accepted", cfg.APIVersion)
	}
	seen := map[string]bool{}
	for i, e := range cfg.Environments {
		if !envNameRe.MatchString(e.Name) || seen[e.Name] || e.Path == "" {
			t.Fatalf("environment %d %+v accepted (name valid %v, duplicate %v)", i, e, envNameRe.MatchString(e.Name), seen[e.Name])
		}
		seen[e.Name] = true
		if cfg.Lines[fmt.Sprintf("environments[%d]", i)] < 1 {
			t.Fatalf("environment %d has no line", i)
		}
	}
	for i, x := range cfg.Exceptions {
		if x.Rule == "" || x.Reason == "" || x.Expires == "" {
			t.Fatalf("exception %d %+v accepted without rule, reason or expires", i, x)
		}
		if _, err := x.ExpiresAt(); err != nil {
			t.Fatalf("exception %d accepted with expiry %q: %v", i, x.Expires, err)
		}
		if x.Line < 1 {
			t.Fatalf("exception %d has no line", i)
		}
	}
}

// jsonOf is the config as JSON (File, Lines and lines left out: they say
// where, not what).
func jsonOf(t *testing.T, c *Config) string {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatalf("config as JSON: %v", err)
	}
	return string(b)
}

// TestParseErrorLines pins what FuzzParse found: yaml.v3 gives no line for
// errors on the first line or for invalid bytes, and an empty document is
// an empty config, not an error past the end of the file.
func TestParseErrorLines(t *testing.T) {
	for _, tc := range []struct {
		in   string
		line int
		msg  string
	}{
		{"apiVersion: gate/v1: x\n", 1, "mapping values are not allowed"},
		{"apiVersion: gate/v1\nkind: \"\xff\"\n", 2, "invalid leading UTF-8 octet"},
		{"apiVersion: gate/v1\nenvironments: *e\n", 2, "unknown anchor 'e'"},
	} {
		_, err := Parse("gate.yaml", []byte(tc.in))
		var ce *Error
		if !errors.As(err, &ce) || ce.Line != tc.line || !strings.Contains(ce.Msg, tc.msg) {
			t.Errorf("%q: got %v, want line %d and %q", tc.in, err, tc.line, tc.msg)
		}
	}
	for _, in := range []string{"---", "---\n", "~\n", "--- null\n"} {
		cfg, err := Parse("gate.yaml", []byte(in))
		if err != nil || len(cfg.Environments) != 0 {
			t.Errorf("%q: got %+v, %v; want an empty config", in, cfg, err)
		}
	}
}
