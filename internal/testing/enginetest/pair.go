// Package enginetest builds the base/head ops repo the engine, report and
// CLI tests share: a real git repository made from testdata/example with a
// pull-request-like branch whose change touches every kind of diff gate
// shows (changed replicas, an added ConfigMap, a removed Service, a changed
// Secret value, a configMapGenerator whose hash suffix changes) and a main
// branch that moved on after the branch was cut (so merge-base matters).
package enginetest

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/gate-ops/gate/internal/testing/gittest"
)

// Canary values planted in the Secret of the pair: no output may contain
// them, in any format, encoded or not.
const (
	BaseCanary = "base-canary-Vq3Lm9Xz-secret"
	HeadCanary = "head-canary-Kp7Rt2Wy-secret"
)

// Pair is the repository and the revisions of a pull request.
type Pair struct {
	Repo *gittest.Repo
	Dir  string
	// Base is the commit the branch was cut from (the merge-base).
	Base string
	// Main is the tip of main, one commit after Base (staging replicas).
	Main string
	// Head is the tip of the branch, checked out in the work tree.
	Head string
}

// ExampleDir is the absolute path of testdata/example.
func ExampleDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "testdata", "example")
}

func secretYAML(password string) string {
	enc := base64.StdEncoding.EncodeToString([]byte(password))
	return `apiVersion: v1
kind: Secret
metadata:
  name: shop-api
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{"apiVersion":"v1","data":{"api-key":"` + enc + `"},"kind":"Secret"}'
type: Opaque
data:
  api-key: ` + enc + `
  username: c2hvcA==
stringData:
  webhook-token: ` + password + `-webhook
`
}

// NewPair builds the repository. The work tree is left at the head.
func NewPair(t testing.TB) *Pair {
	t.Helper()
	r := gittest.New(t)
	r.CopyTree(ExampleDir())
	prodK := filepath.Join(ExampleDir(), "overlays", "prod", "kustomization.yaml")
	r.Write("overlays/prod/secret.yaml", secretYAML(BaseCanary))
	r.Write("overlays/prod/kustomization.yaml", strings.Replace(readFile(t, prodK), "  - db-credentials.yaml\n", "  - db-credentials.yaml\n  - secret.yaml\n", 1))
	r.Git("add", "-A")
	r.Git("commit", "-q", "-m", "base")
	p := &Pair{Repo: r, Dir: r.Dir, Base: r.Git("rev-parse", "HEAD")}

	// main moves on: staging gets more replicas.
	r.Write("overlays/staging/replicas-json6902.yaml", strings.Replace(readFile(t, filepath.Join(ExampleDir(), "overlays", "staging", "replicas-json6902.yaml")), "value: 2", "value: 4", 1))
	r.Git("commit", "-q", "-am", "staging: 4 replicas")
	p.Main = r.Git("rev-parse", "HEAD")

	// The pull request, cut from Base.
	r.Git("checkout", "-q", "-b", "feature", p.Base)
	r.Write("overlays/prod/deployment-prod.yaml", strings.Replace(readFile(t, filepath.Join(ExampleDir(), "overlays", "prod", "deployment-prod.yaml")), "replicas: 3", "replicas: 5", 1))
	r.Write("overlays/prod/feature-flags.yaml", `apiVersion: v1
kind: ConfigMap
metadata:
  name: feature-flags
data:
  checkout-v2: "true"
`)
	k := readFile(t, filepath.Join(r.Dir, "overlays", "prod", "kustomization.yaml"))
	r.Write("overlays/prod/kustomization.yaml", strings.Replace(k, "  - secret.yaml\n", "  - secret.yaml\n  - feature-flags.yaml\n", 1))
	r.Remove("overlays/prod/charts/cache/templates/service.yaml")
	r.Write("overlays/prod/secret.yaml", secretYAML(HeadCanary))
	r.Write("overlays/dev/kustomization.yaml", strings.Replace(readFile(t, filepath.Join(ExampleDir(), "overlays", "dev", "kustomization.yaml")), "LOG_LEVEL=debug", "LOG_LEVEL=trace", 1))
	r.Git("add", "-A")
	r.Git("commit", "-q", "-m", "prod: 5 replicas, feature flags, no cache service, rotate api key; dev: trace logs")
	p.Head = r.Git("rev-parse", "HEAD")
	return p
}

func readFile(t testing.TB, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
