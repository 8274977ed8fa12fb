package run

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
)

// CacheSalt identifies this build of gate, so a cache never serves a
// render made by a different renderer: the version, the VCS revision, and
// for development builds the executable's size and time.
func CacheSalt(version string) string {
	salt := version
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" || s.Key == "vcs.modified" {
				salt += "/" + s.Value
			}
		}
		for _, d := range bi.Deps {
			if d.Path == "sigs.k8s.io/kustomize/api" || d.Path == "helm.sh/helm/v4" {
				salt += "/" + d.Version
			}
		}
	}
	if exe, err := os.Executable(); err == nil {
		if fi, err := os.Stat(exe); err == nil {
			salt += fmt.Sprintf("/%d-%d", fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return salt
}

// WriteVersion writes gate version's lines: gate's version, Go's, the
// commit, and the engines gate embeds (kustomize as the release users
// compare with, Helm, OPA, kubeconform).
func WriteVersion(w io.Writer, version string) {
	fmt.Fprintf(w, "gate %s\n", version)
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return
	}
	fmt.Fprintf(w, "go %s\n", bi.GoVersion)
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" {
			fmt.Fprintf(w, "commit %s\n", s.Value)
		}
	}
	want := map[string]string{
		"helm.sh/helm/v4":                  "helm",
		"github.com/open-policy-agent/opa": "opa",
		"github.com/yannh/kubeconform":     "kubeconform",
	}
	for _, d := range bi.Deps {
		if d.Path == kustomizeAPI {
			fmt.Fprintln(w, KustomizeLine(d.Version))
		}
		if name, ok := want[d.Path]; ok {
			fmt.Fprintf(w, "%s %s\n", name, d.Version)
		}
	}
}

// kustomizeAPI is the module gate renders kustomizations with. The
// kustomize CLI a user compares with is versioned apart from it (kustomize
// v5.8.2 builds with api v0.21.2), so version names the release.
const kustomizeAPI = "sigs.k8s.io/kustomize/api"

// KustomizeReleases maps an api module version to the kustomize CLI
// release (sigs.k8s.io/kustomize/kustomize/v5) whose go.mod requires it,
// as read from each release's go.mod on the Go module proxy. A go.mod bump
// to an api version missing here fails TestKustomizeReleaseOfGoMod
// (cmd/gate).
var KustomizeReleases = map[string]string{
	"v0.19.0": "v5.6.0",
	"v0.20.1": "v5.7.1",
	"v0.21.1": "v5.8.1",
	"v0.21.2": "v5.8.2",
	"v0.21.3": "v5.8.3",
}

// KustomizeLine says which kustomize release gate renders as: "kustomize
// v5.8.2 (api v0.21.2)", or the api version plainly when no release is
// known for it.
func KustomizeLine(api string) string {
	if rel, ok := KustomizeReleases[api]; ok {
		return fmt.Sprintf("kustomize %s (api %s)", rel, api)
	}
	return fmt.Sprintf("kustomize api %s (no kustomize release known for it)", api)
}
