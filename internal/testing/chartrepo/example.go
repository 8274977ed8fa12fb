package chartrepo

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// RepoRoot is gate's repository root (this package sits three levels down).
func RepoRoot() string {
	_, self, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(self), "..", "..", ".."))
}

// Corpus finds ../shared/corpus/<name> next to gate's root, or next to the
// main checkout when the root is a git worktree; the test is skipped when
// it is not there.
func Corpus(t testing.TB, name string) string {
	t.Helper()
	root := RepoRoot()
	cands := []string{filepath.Join(root, "..", "shared", "corpus", name)}
	if b, err := os.ReadFile(filepath.Join(root, ".git")); err == nil {
		if gd, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "gitdir: "); ok {
			if i := strings.Index(gd, "/.git/worktrees/"); i >= 0 {
				cands = append(cands, filepath.Join(gd[:i], "..", "shared", "corpus", name))
			}
		}
	}
	for _, c := range cands {
		if _, err := os.Stat(c); err == nil {
			return c
		}
	}
	t.Skipf("corpus %s not present (looked at %v)", name, cands)
	return ""
}

// FluxExample serves the charts the Flux example
// (flux2-kustomize-helm-example) installs, on loopback: podinfo (from the
// corpus) in a Helm HTTP repository standing in for
// https://stefanprodan.github.io/podinfo, and the stand-in cert-manager
// and gateway-helm charts (testdata/charts) in a real OCI registry standing
// in for quay.io/jetstack/charts and docker.io/envoyproxy. GateYAML is the
// charts: section that allows those repositories and mirrors them here.
type FluxExample struct {
	Helm     *HelmRepo
	Registry *Registry
	// Charts are the published charts, by name.
	Charts   map[string][]Chart
	GateYAML string
}

// The repositories the Flux example names.
const (
	PodinfoRepo     = "https://stefanprodan.github.io/podinfo"
	CertManagerRepo = "oci://quay.io/jetstack/charts"
	EnvoyRepo       = "oci://docker.io/envoyproxy"
)

// ServeFluxExample starts both repositories. Each chart is published at
// its version and one older version (so ranges have something to choose).
func ServeFluxExample(t testing.TB) *FluxExample {
	t.Helper()
	root := RepoRoot()
	podinfo := MustPackage(t, filepath.Join(Corpus(t, "charts"), "podinfo"), "")
	podinfoOld := MustPackage(t, filepath.Join(Corpus(t, "charts"), "podinfo"), "6.13.0")
	cm := MustPackage(t, filepath.Join(root, "testdata", "charts", "cert-manager"), "")
	cmOld := MustPackage(t, filepath.Join(root, "testdata", "charts", "cert-manager"), "v1.18.2")
	gw := MustPackage(t, filepath.Join(root, "testdata", "charts", "gateway-helm"), "")
	gwOld := MustPackage(t, filepath.Join(root, "testdata", "charts", "gateway-helm"), "v1.7.2")
	ex := &FluxExample{
		Helm:     ServeHelm(t, podinfoOld, podinfo),
		Registry: StartRegistry(t),
		Charts: map[string][]Chart{
			"podinfo":      {podinfoOld, podinfo},
			"cert-manager": {cmOld, cm},
			"gateway-helm": {gwOld, gw},
		},
	}
	for _, c := range []Chart{cmOld, cm} {
		ex.Registry.Push(t, "quay.io/jetstack/charts", c)
	}
	for _, c := range []Chart{gwOld, gw} {
		ex.Registry.Push(t, "docker.io/envoyproxy", c)
	}
	ex.GateYAML = fmt.Sprintf(`charts:
  allow:
    - %s
    - %s
    - %s
  mirrors:
    %q: %q
    %q: %q
    %q: %q
`, PodinfoRepo, CertManagerRepo, EnvoyRepo,
		PodinfoRepo, ex.Helm.URL,
		CertManagerRepo, ex.Registry.URL("quay.io/jetstack/charts"),
		EnvoyRepo, ex.Registry.URL("docker.io/envoyproxy"))
	return ex
}
