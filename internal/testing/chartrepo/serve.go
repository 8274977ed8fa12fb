package chartrepo

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
	"helm.sh/helm/v4/pkg/registry"

	"github.com/gate-ops/gate/checks/charts"
)

// HelmRepo is a Helm HTTP repository on loopback: index.yaml and one .tgz
// per chart version, as `helm repo index` lays them out.
type HelmRepo struct {
	URL string
	mu  sync.Mutex
	cs  []Chart
	// hits counts requests per path.
	hits map[string]int
	// swapped are archive bytes served instead of the indexed ones.
	swapped map[string][]byte
}

// ServeHelm starts a Helm repository serving cs; it stops with the test.
func ServeHelm(t testing.TB, cs ...Chart) *HelmRepo {
	t.Helper()
	r := &HelmRepo{cs: cs, hits: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

// Hits is how many times a path was requested.
func (r *HelmRepo) Hits(p string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hits[p]
}

func (r *HelmRepo) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hits[req.URL.Path]++
	if strings.HasSuffix(req.URL.Path, "/index.yaml") {
		w.Header().Set("Content-Type", "application/x-yaml")
		_, _ = w.Write(r.indexLocked())
		return
	}
	for _, c := range r.cs {
		if strings.HasSuffix(req.URL.Path, "/"+c.Name+"-"+c.Version+".tgz") {
			w.Header().Set("Content-Type", "application/gzip")
			b := c.Archive
			if s, ok := r.swapped[c.Name+"-"+c.Version+".tgz"]; ok {
				b = s
			}
			_, _ = w.Write(b)
			return
		}
	}
	http.NotFound(w, req)
}

func (r *HelmRepo) indexLocked() []byte {
	type entry struct {
		APIVersion string   `yaml:"apiVersion"`
		Name       string   `yaml:"name"`
		Version    string   `yaml:"version"`
		Digest     string   `yaml:"digest"`
		URLs       []string `yaml:"urls"`
	}
	entries := map[string][]entry{}
	for _, c := range r.cs {
		entries[c.Name] = append(entries[c.Name], entry{APIVersion: "v2", Name: c.Name, Version: c.Version,
			Digest: strings.TrimPrefix(charts.Digest(c.Archive), "sha256:"), URLs: []string{c.Name + "-" + c.Version + ".tgz"}})
	}
	for _, es := range entries {
		sort.Slice(es, func(i, j int) bool { return es[i].Version > es[j].Version })
	}
	b, _ := yaml.Marshal(map[string]any{"apiVersion": "v1", "entries": entries, "generated": "2020-01-01T00:00:00Z"})
	return b
}

// Registry is a real OCI registry (distribution/distribution) on loopback.
type Registry struct {
	// Host is 127.0.0.1:<port>.
	Host string
}

// registryBin finds or builds the registry binary of the test-only module
// internal/testing/chartrepo/registry: $GATE_REGISTRY_BIN, else the user
// cache's gate/registry-bin/registry, built there on first use (minutes).
func registryBin(t testing.TB) string {
	if b := os.Getenv("GATE_REGISTRY_BIN"); b != "" {
		return b
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatalf("registry binary: %v", err)
	}
	bin := filepath.Join(cache, "gate", "registry-bin", "registry")
	buildMu.Lock()
	defer buildMu.Unlock()
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	_, self, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(self), "registry")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the test registry (cd %s && go build -o %s .): %v\n%s", dir, bin, err, out)
	}
	return bin
}

var buildMu sync.Mutex

// StartRegistry starts a registry process on a loopback port; it is
// stopped (and waited for) with the test.
func StartRegistry(t testing.TB) *Registry {
	t.Helper()
	cmd := exec.Command(registryBin(t))
	// Its access log is noise; a failure to start shows as no address.
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the test registry: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			addr <- strings.TrimSpace(sc.Text())
		}
		close(addr)
	}()
	select {
	case a, ok := <-addr:
		if !ok || !strings.HasPrefix(a, "127.0.0.1:") {
			t.Fatalf("the test registry printed %q, want its loopback address", a)
		}
		return &Registry{Host: a}
	case <-time.After(60 * time.Second):
		t.Fatal("the test registry did not start within 60s")
	}
	return nil
}

// Push pushes a chart as `helm push` does, to oci://<Host>/<path>/<name>:<version>.
func (r *Registry) Push(t testing.TB, path string, c Chart) {
	t.Helper()
	cl, err := registry.NewClient(registry.ClientOptPlainHTTP(), registry.ClientOptCredentialsFile(filepath.Join(t.TempDir(), "config.json")))
	if err != nil {
		t.Fatal(err)
	}
	ref := fmt.Sprintf("%s/%s/%s:%s", r.Host, strings.Trim(path, "/"), c.Name, strings.ReplaceAll(c.Version, "+", "_"))
	if _, err := cl.Push(c.Archive, ref, registry.PushOptStrictMode(false), registry.PushOptCreationTime("2020-01-01T00:00:00Z")); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
}

// URL is the oci:// URL of a path in the registry.
func (r *Registry) URL(path string) string {
	return "oci://" + r.Host + "/" + strings.Trim(path, "/")
}

// Swap serves c's bytes for the archive of the same name and version while
// the index keeps the digest of the original (a tampered repository).
func (r *HelmRepo) Swap(c Chart) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.swapped == nil {
		r.swapped = map[string][]byte{}
	}
	r.swapped[c.Name+"-"+c.Version+".tgz"] = c.Archive
}
