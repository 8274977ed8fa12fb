package render

import (
	"slices"
	"testing"
)

func TestFluxSubstitute(t *testing.T) {
	vars := map[string]string{"cluster": "prod", "empty": "", "replicas": "3"}
	tests := []struct {
		in, want string
		missing  []string
		wantErr  bool
	}{
		{in: "name: app-${cluster}", want: "name: app-prod"},
		{in: "replicas: ${replicas}", want: "replicas: 3"},
		{in: "region: ${region:=eu-west-1}", want: "region: eu-west-1"},
		{in: "region: ${region:-eu-west-1}", want: "region: eu-west-1"},
		{in: "v: ${empty:=fallback}", want: "v: fallback"},
		{in: "v: ${empty=fallback}", want: "v: "},
		{in: "v: ${unset-fallback}", want: "v: fallback"},
		{in: "v: ${cluster:=other}", want: "v: prod"},
		{in: "script: echo $${cluster} $HOME", want: "script: echo ${cluster} $HOME"},
		{in: "cost: $5 and $", want: "cost: $5 and $"},
		{in: "a: ${nope} b: ${nope2}", want: "a:  b: ", missing: []string{"nope", "nope2"}},
		{in: "x: ${cluster^^}", wantErr: true},
		{in: "x: ${cluster", wantErr: true},
		{in: "x: ${}", wantErr: true},
	}
	for _, tc := range tests {
		got, missing, err := fluxSubstitute(tc.in, vars)
		if (err != nil) != tc.wantErr {
			t.Errorf("fluxSubstitute(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
			continue
		}
		if tc.wantErr {
			continue
		}
		if got != tc.want || !slices.Equal(missing, tc.missing) {
			t.Errorf("fluxSubstitute(%q) = %q, missing %v; want %q, missing %v", tc.in, got, missing, tc.want, tc.missing)
		}
	}
}

// TestHasVarRef: postBuild substitution skips the YAML round trip of
// objects without "${" in a key or a string; any such reference, however
// deep, takes it.
func TestHasVarRef(t *testing.T) {
	for _, tc := range []struct {
		obj  any
		want bool
	}{
		{map[string]any{"a": "b", "n": int64(3), "x": []any{"$", "{", "$ {x}", map[string]any{"k": true}}}, false},
		{map[string]any{"a": "$${escaped}"}, true},
		{map[string]any{"spec": map[string]any{"list": []any{"ok", map[string]any{"v": "pre-${var}"}}}}, true},
		{map[string]any{"data": map[string]any{"${key}": "v"}}, true},
		{[]any{nil, 1.5, "${x:=1}"}, true},
	} {
		if got := hasVarRef(tc.obj); got != tc.want {
			t.Errorf("hasVarRef(%v) = %v, want %v", tc.obj, got, tc.want)
		}
	}
}
