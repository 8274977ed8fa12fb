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
