package render

import (
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"testing"
	"time"

	"github.com/gate-ops/gate/checks/config"
)

// testdataRepos are the ops repos under the repository's testdata/ (every
// directory holding a gate.yaml; the generator's own testdata aside), and
// the Flux example corpus.
func testdataRepos(t *testing.T) []string {
	t.Helper()
	var repos []string
	err := filepath.WalkDir("../../testdata", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "gen" {
			return fs.SkipDir
		}
		if !d.IsDir() && d.Name() == "gate.yaml" {
			repos = append(repos, filepath.Dir(p))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(repos)
	return append(repos, fluxCorpus(t))
}

// caseTimeout is the render timeout a hostile case sets for its repo
// (limits: {renderTimeout: 1s} in the case.yaml beside it), 0 for the
// default: a case made to hit the deadline hits it in a second.
func caseTimeout(t *testing.T, repo string) time.Duration {
	b, err := os.ReadFile(filepath.Join(repo, "..", "case.yaml"))
	if err != nil {
		return 0
	}
	m := regexp.MustCompile(`renderTimeout:\s*([0-9a-z.]+)`).FindSubmatch(b)
	if m == nil {
		return 0
	}
	d, err := time.ParseDuration(string(m[1]))
	if err != nil {
		t.Fatalf("%s: renderTimeout: %v", repo, err)
	}
	return d
}

// TestNoShareAttachesNoMemo: with NoShare, RenderAll renders without the
// memo; without it, a run of several environments shares through one.
func TestNoShareAttachesNoMemo(t *testing.T) {
	src := memoRepo(nil)
	cfg, _, err := config.Load(src, "")
	if err != nil {
		t.Fatal(err)
	}
	all, _ := Discover(src, cfg)
	if New(Options{}).sharing(src, all) == nil {
		t.Error("RenderAll of two environments shares no subtree")
	}
	if New(Options{NoShare: true}).sharing(src, all) != nil {
		t.Error("NoShare: RenderAll still shares subtrees")
	}
}

// sameRenders fails on any difference a user could see between two
// renders of the same environments: objects, bytes, origins, patches,
// files read, findings, located lines.
func sameRenders(t *testing.T, got, want []*Result) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d results shared, %d alone", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		name := w.Env.Name
		if !reflect.DeepEqual(g.Env, w.Env) {
			t.Errorf("%s: environment differs: %+v shared, %+v alone", name, g.Env, w.Env)
		}
		if !reflect.DeepEqual(g.Findings, w.Findings) {
			t.Errorf("%s: findings differ:\nshared: %v\nalone:  %v", name, g.Findings, w.Findings)
		}
		if !reflect.DeepEqual(g.Files, w.Files) {
			t.Errorf("%s: files read differ:\nshared: %v\nalone:  %v", name, g.Files, w.Files)
		}
		if len(g.Resources) != len(w.Resources) {
			t.Errorf("%s: %d objects shared, %d alone", name, len(g.Resources), len(w.Resources))
			continue
		}
		for j := range g.Resources {
			gr, wr := g.Resources[j], w.Resources[j]
			if string(gr.YAML) != string(wr.YAML) || gr.ID != wr.ID {
				t.Errorf("%s: object %d differs:\nshared:\n%s\nalone:\n%s", name, j, gr.YAML, wr.YAML)
				continue
			}
			if gr.Origin != wr.Origin || !reflect.DeepEqual(gr.Patches, wr.Patches) {
				t.Errorf("%s: %s: origin %v %v shared, %v %v alone", name, gr.ID, gr.Origin, gr.Patches, wr.Origin, wr.Patches)
			}
			for _, p := range [][]string{{"spec", "replicas"}, {"spec", "template", "spec", "containers", "0", "image"}, {"metadata", "name"}, {"data"}} {
				if a, b := g.Locate(gr, p), w.Locate(wr, p); a != b {
					t.Errorf("%s: %s: Locate(%s) = %v shared, %v alone", name, gr.ID, p, a, b)
				}
			}
		}
	}
}
