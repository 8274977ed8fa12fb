package enginetest

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/gate-ops/gate/internal/testing/gittest"
)

// NewStatesPair builds a pull request over testdata/example whose findings
// (by RuleStage) take every baseline state:
//
//   - new: staging drops to 1 replica (test/replicas warning) and prod
//     pins a release candidate image (test/prerelease-image error);
//   - existing: dev's single replica, whose line moves (three comment
//     lines added above it in base/deployment.yaml), and prod's Secret
//     keys; dev's configMapGenerator gets a new literal, so its hash
//     suffix changes, which turns nothing new;
//   - fixed: dev leaves its release candidate image.
//
// The base is main; the work tree is left at the head (branch feature).
func NewStatesPair(t testing.TB) *Pair {
	t.Helper()
	r := gittest.New(t)
	r.CopyTree(ExampleDir())
	r.Git("add", "-A")
	r.Git("commit", "-q", "-m", "base")
	p := &Pair{Repo: r, Dir: r.Dir, Base: r.Git("rev-parse", "HEAD")}
	p.Main = p.Base
	r.Git("checkout", "-q", "-b", "feature")
	ex := func(rel string) string { return readFile(t, filepath.Join(ExampleDir(), filepath.FromSlash(rel))) }
	r.Write("overlays/staging/replicas-json6902.yaml", strings.Replace(ex("overlays/staging/replicas-json6902.yaml"), "value: 2", "value: 1", 1))
	r.Write("overlays/prod/kustomization.yaml", ex("overlays/prod/kustomization.yaml")+"images:\n  - name: ghcr.io/example/shop\n    newTag: 2.0.0-rc.1\n")
	r.Write("base/deployment.yaml", "# The shop's web tier.\n# Overlays set replicas and the image tag.\n# Keep this file free of environment specifics.\n"+ex("base/deployment.yaml"))
	dev := ex("overlays/dev/kustomization.yaml")
	dev = strings.Replace(dev, "newTag: 1.5.0-rc.1", "newTag: 1.5.0", 1)
	dev = strings.Replace(dev, "LOG_LEVEL=debug", "LOG_LEVEL=trace", 1)
	r.Write("overlays/dev/kustomization.yaml", dev)
	r.Git("add", "-A")
	r.Git("commit", "-q", "-m", "staging: 1 replica; prod: 2.0.0-rc.1; dev: 1.5.0, trace logs")
	p.Head = r.Git("rev-parse", "HEAD")
	return p
}
