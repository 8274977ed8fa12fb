package charts_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gate-ops/gate/checks/charts"
	"github.com/gate-ops/gate/internal/testing/chartrepo"
)

func TestResolveVersion(t *testing.T) {
	offered := []string{"1.17.2", "1.18.0", "1.18.1", "1.19.0-rc.1", "2.0.0", "v0.9.0"}
	tests := []struct {
		want, got, err string
	}{
		{want: "1.18.0", got: "1.18.0"},
		{want: "0.9.0", got: "v0.9.0"},
		{want: "1.x", got: "1.18.1"},
		{want: "~1.17", got: "1.17.2"},
		{want: ">=1.19.0-rc.0", got: "2.0.0"},
		{want: ">=1.19.0-rc.0 <2", got: "1.19.0-rc.1"},
		{want: "", got: "2.0.0"},
		{want: "*", got: "2.0.0"},
		{want: "3.x", err: "no version matches"},
		{want: "latest!", err: "neither a version nor a semver range"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			got, err := charts.ResolveVersion(tt.want, offered)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ResolveVersion(%q) = %q, %v; want error %q", tt.want, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.got {
				t.Fatalf("ResolveVersion(%q) = %q, %v; want %q", tt.want, got, err, tt.got)
			}
		})
	}
}

func TestResolveFromCache(t *testing.T) {
	dir := t.TempDir()
	c := charts.Open(dir)
	const repo = "https://Charts.Example.com/stable/"
	v1 := chartrepo.MustTgz(t, "demo", map[string]string{"Chart.yaml": "apiVersion: v2\nname: demo\nversion: 1.0.0\n", "templates/cm.yaml": "kind: ConfigMap\n"})
	v11 := chartrepo.MustTgz(t, "demo", map[string]string{"Chart.yaml": "apiVersion: v2\nname: demo\nversion: 1.1.0\n", "templates/cm.yaml": "kind: ConfigMap\n"})
	if err := c.PutIndex(repo, "demo", []string{"1.0.0", "1.1.0", "1.2.0"}, time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	d1, err := c.PutArchive(repo, "demo", "1.0.0", v1)
	if err != nil {
		t.Fatal(err)
	}
	d11, err := c.PutArchive(repo, "demo", "1.1.0", v11)
	if err != nil {
		t.Fatal(err)
	}
	// The index is keyed by the normalized URL: the form in the manifest does not matter.
	got, err := c.Resolve(charts.Ref{Repo: "https://charts.example.com/stable", Chart: "demo", Version: "~1.0"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != "1.0.0" || got.Digest != d1 {
		t.Fatalf("~1.0 resolved to %s %s, want 1.0.0 %s", got.Version, got.Digest, d1)
	}
	ch, err := got.Load()
	if err != nil || ch.Name() != "demo" || ch.Metadata.Version != "1.0.0" {
		t.Fatalf("Load: %v %v", ch, err)
	}
	got, err = c.Resolve(charts.Ref{Repo: repo, Chart: "demo", Version: "1.1.0"})
	if err != nil || got.Digest != d11 {
		t.Fatalf("1.1.0: %v %v", got, err)
	}

	notCached := []struct {
		name   string
		ref    charts.Ref
		reason string
	}{
		// The repository offered 1.2.0: a range resolves to it as Flux
		// would, and it was not pulled. Rendering 1.1.0 instead would
		// show what the cluster does not run.
		{"range resolves to an unpulled version", charts.Ref{Repo: repo, Chart: "demo", Version: "1.x"}, "version 1.2.0 was not pulled"},
		{"unknown chart", charts.Ref{Repo: repo, Chart: "other", Version: "1.0.0"}, "never pulled"},
		{"unknown repo", charts.Ref{Repo: "oci://ghcr.io/x", Chart: "demo"}, "never pulled"},
		{"version the index lacks", charts.Ref{Repo: repo, Chart: "demo", Version: "9.9.9"}, "no version matches"},
	}
	for _, tt := range notCached {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Resolve(tt.ref)
			var nc *charts.NotCachedError
			if !errors.As(err, &nc) {
				t.Fatalf("Resolve(%v) = %v, want a NotCachedError", tt.ref, err)
			}
			if !strings.Contains(err.Error(), tt.reason) || !strings.Contains(err.Error(), "run `gate charts pull --cache-dir") {
				t.Fatalf("message %q lacks %q or the pull command", err, tt.reason)
			}
		})
	}

	// A corrupt archive is not served: pulling again mends it.
	p := filepath.Join(dir, "charts", "blobs", "sha256", strings.TrimPrefix(d11, "sha256:")+".tgz")
	if err := os.WriteFile(p, []byte("tampered"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Resolve(charts.Ref{Repo: repo, Chart: "demo", Version: "1.1.0"}); !charts.IsNotCached(err) || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("corrupt archive: %v", err)
	}
	// A re-pull of the index keeps the digests already known.
	if err := c.PutIndex(repo, "demo", []string{"1.0.0", "1.3.0"}, time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Resolve(charts.Ref{Repo: repo, Chart: "demo", Version: "1.0.0"}); err != nil || got.Digest != d1 {
		t.Fatalf("after re-index: %v %v", got, err)
	}
}

func TestNotCachedCommandQuotes(t *testing.T) {
	e := &charts.NotCachedError{Ref: charts.Ref{Repo: "https://x.example/$(touch pwned)", Chart: "a'b", Version: ">=1.0 <2"}, CacheDir: "/tmp/my cache"}
	want := `gate charts pull --cache-dir '/tmp/my cache' --url 'https://x.example/$(touch pwned)' --chart 'a'\''b' --version '>=1.0 <2'`
	if got := e.Command(); got != want {
		t.Fatalf("Command() = %s\nwant        %s", got, want)
	}
}

func TestSplitOCI(t *testing.T) {
	repo, chart := charts.SplitOCI("oci://quay.io/jetstack/charts/cert-manager")
	if repo != "oci://quay.io/jetstack/charts" || chart != "cert-manager" {
		t.Fatalf("SplitOCI = %q %q", repo, chart)
	}
}
