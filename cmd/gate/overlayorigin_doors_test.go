package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gate-ops/gate/checks/render"
	"github.com/gate-ops/gate/internal/run"
	"github.com/gate-ops/gate/internal/testing/apptest"
	"github.com/gate-ops/gate/internal/testing/gittest"
)

// overlayPR is a pull request on an overlay layout whose every new finding
// is caused by an overlay's images:, replicas: or patch: the base tree,
// the files the pull request writes, and the findings it must bring, each
// "file:line rule".
type overlayPR struct {
	name  string
	dir   string            // the repo at the base (testdata)
	base  map[string]string // edits that make the base
	edits map[string]string // the pull request's edits on top of the base
	want  []string
}

func overlayPRs(t *testing.T) []overlayPR {
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	ex := "../../testdata/example/overlays/prod/"
	or := "../../testdata/overlay-repo/envs/"
	prodK := read(or + "prod/kustomization.yaml")
	return []overlayPR{
		{name: "example", dir: "../../testdata/example",
			edits: map[string]string{
				"overlays/prod/kustomization.yaml":   read(ex+"kustomization.yaml") + "images:\n  - name: ghcr.io/example/shop\n    newTag: latest\nreplicas:\n  - name: shop\n    count: 1\n",
				"overlays/prod/deployment-prod.yaml": strings.Replace(read(ex+"deployment-prod.yaml"), "      containers:", "      hostNetwork: true\n      containers:", 1),
			},
			want: []string{
				"overlays/prod/deployment-prod.yaml:9 no-host-namespaces",
				"overlays/prod/kustomization.yaml:29 image-tag-pinned",
				"overlays/prod/kustomization.yaml:32 production-replicas",
			}},
		// testdata/overlay-repo is the head; the base pins staging's tag,
		// has an integer port, three prod replicas and no prod patch.
		{name: "overlay-repo", dir: "../../testdata/overlay-repo",
			base: map[string]string{
				"envs/staging/kustomization.yaml": strings.Replace(read(or+"staging/kustomization.yaml"), "newTag: latest", "newTag: 1.9.0", 1),
				"envs/staging/web-port.yaml":      strings.Replace(read(or+"staging/web-port.yaml"), `"8080"`, "8080", 1),
				"envs/prod/kustomization.yaml":    strings.Replace(prodK[:strings.Index(prodK, "patches:")], "count: 1", "count: 3", 1),
			},
			edits: map[string]string{
				"envs/staging/kustomization.yaml": read(or + "staging/kustomization.yaml"),
				"envs/staging/web-port.yaml":      read(or + "staging/web-port.yaml"),
				"envs/prod/kustomization.yaml":    prodK,
			},
			want: []string{
				"envs/prod/kustomization.yaml:12 production-replicas",
				"envs/prod/kustomization.yaml:19 no-privileged",
				"envs/staging/kustomization.yaml:8 image-tag-pinned",
				"envs/staging/web-port.yaml:12 schema/invalid",
			}},
	}
}

// baseTree copies the PR's repo with its base edits into a directory.
func (pr overlayPR) baseTree(t *testing.T) string {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(pr.dir)); err != nil {
		t.Fatal(err)
	}
	for k, v := range pr.base {
		if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(k)), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// checkNewOnChangedFiles: the new findings are exactly want, and every one
// lands on a file the pull request changed.
func checkNewOnChangedFiles(t *testing.T, pr overlayPR, door string, got []string) {
	t.Helper()
	sort.Strings(got)
	if strings.Join(got, "\n") != strings.Join(pr.want, "\n") {
		t.Errorf("%s: new findings\n  %s\nwant\n  %s", door, strings.Join(got, "\n  "), strings.Join(pr.want, "\n  "))
	}
	for _, g := range got {
		file, _, _ := strings.Cut(g, ":")
		if _, ok := pr.edits[file]; !ok {
			t.Errorf("%s: new finding %s is on a file the pull request did not change", door, g)
		}
	}
}

// TestOverlayFindingsLandOnChangedFilesInTheApp: on the bundled example
// and an overlay repo, a pull request whose findings come from an
// overlay's images:, replicas: and patches gets check-run annotations, for
// every new finding, on the overlay's line: a file the pull request
// changed.
func TestOverlayFindingsLandOnChangedFilesInTheApp(t *testing.T) {
	for _, pr := range overlayPRs(t) {
		t.Run(pr.name, func(t *testing.T) {
			g := &globals{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, log: slog.New(slog.DiscardHandler), maxFile: 16 << 20}
			w := apptest.New(t, apptest.Options{Example: pr.baseTree(t), Runner: run.AppRunner(run.Stages{}, g.limits, render.Options{}, g.configPath), Workers: 2})
			files := map[string][]byte{}
			for k, v := range pr.edits {
				files[k] = []byte(v)
			}
			sha := w.Repo.Commit(w.Repo.Main, files, "overlay change")
			w.Repo.SetRef("refs/pull/5/head", sha)
			w.Deliver("pull_request", w.PullRequest("opened", 5, sha, time.Now()), []byte(apptest.Secret))
			w.WaitIdle(3 * time.Minute)
			var got []string
			rule := regexp.MustCompile(`^new \w+: (\S+)`)
			for _, cr := range w.RunsFor(sha) {
				for _, a := range cr.Annotations {
					if m := rule.FindStringSubmatch(a.Title); m != nil {
						got = append(got, fmt.Sprintf("%s:%d %s", a.Path, a.StartLine, m[1]))
					}
				}
			}
			checkNewOnChangedFiles(t, pr, "App", got)
			if p := w.Fake.Problems(); len(p) > 0 {
				t.Errorf("fake GitHub problems: %v", p)
			}
		})
	}
}

// TestOverlayFindingsLandOnChangedFilesInTheAction: the same pull
// requests through action.yml: every new finding's annotation is on the
// overlay's line.
func TestOverlayFindingsLandOnChangedFilesInTheAction(t *testing.T) {
	for _, pr := range overlayPRs(t) {
		t.Run(pr.name, func(t *testing.T) {
			r := gittest.New(t)
			r.CopyTree(pr.baseTree(t))
			base := r.Commit("ops repo")
			r.Git("checkout", "-q", "-b", "feature")
			for k, v := range pr.edits {
				r.Write(k, v)
			}
			r.Commit("overlay change")
			a := runAction(t, r.Dir, base, nil)
			if a.code != 1 {
				t.Fatalf("gate step exit %d, want 1\nstdout:\n%s", a.code, a.stdout)
			}
			ann := regexp.MustCompile(`(?m)^::(?:error|warning|notice) file=([^,]*),line=(\d+),title=[^:]*%3A (\S+) \(new\)::`)
			var got []string
			for _, m := range ann.FindAllStringSubmatch(a.stdout, -1) {
				got = append(got, m[1]+":"+m[2]+" "+m[3])
			}
			checkNewOnChangedFiles(t, pr, "Action", got)
		})
	}
}
