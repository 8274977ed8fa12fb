package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/render"
	"github.com/gate-ops/gate/checks/source"
	"github.com/gate-ops/gate/internal/testing/corpus"
)

// memOf copies a repo (symlinks followed) into an in-memory source.
func memOf(t *testing.T, dir string) (map[string]string, bool) {
	d, err := source.OpenDir(dir, 0)
	if err != nil {
		return nil, false
	}
	defer d.Close()
	files := map[string]string{}
	err = fs.WalkDir(d, ".", func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return nil //nolint:nilerr // a refused entry is no file of the repo
		}
		if e.IsDir() {
			return nil
		}
		b, rerr := d.ReadFile(p)
		if rerr != nil || len(b) > 1<<20 {
			return nil //nolint:nilerr // as above
		}
		files[p] = string(b)
		return nil
	})
	return files, err == nil && len(files) > 0 && len(files) < 400
}

// renderBytes is everything a render produced, for byte comparison.
func renderBytes(res *render.Result) string {
	var b strings.Builder
	for _, r := range res.Resources {
		b.Write(r.YAML)
		b.WriteString("\n---\n")
	}
	j, _ := json.Marshal(res.Findings)
	b.Write(j)
	return b.String()
}

// checkSameRender fails when an untouched environment's head render
// differs from its base render. A render cut by the render timeout (a
// loaded machine under -race) proves nothing either way: it is logged,
// not failed, and the difference is shown when there is one.
func checkSameRender(t *testing.T, what, got, want string) {
	t.Helper()
	if got == want {
		return
	}
	if strings.Contains(got, `"render/timeout"`) || strings.Contains(want, `"render/timeout"`) {
		t.Logf("%s: a render hit the render timeout; not compared", what)
		return
	}
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	i := 0
	for i < len(g) && i < len(w) && g[i] == w[i] {
		i++
	}
	at := func(l []string) string {
		if i < len(l) {
			return l[i]
		}
		return "(end)"
	}
	t.Errorf("%s, but its head render differs from its base render at line %d:\n head: %.300s\n base: %.300s", what, i+1, at(g), at(w))
}

type mutation struct {
	name    string
	apply   func(map[string]string)
	changed []string
}

// mutationsOf samples files of a repo and, for each, edits it, deletes it
// and adds a file next to it (a kustomization where there is none).
func mutationsOf(files map[string]string, global func(string) bool) []mutation {
	var names []string
	for p := range files {
		if !global(p) {
			names = append(names, p)
		}
	}
	sort.Strings(names)
	const sample = 5
	var picked []string
	if len(names) <= sample {
		picked = names
	} else {
		for i := 0; i < sample; i++ {
			picked = append(picked, names[i*len(names)/sample])
		}
	}
	var out []mutation
	for _, p := range picked {
		out = append(out,
			mutation{"edit " + p, func(m map[string]string) {
				m[p] += "\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: mutated\n"
			}, []string{p}},
			mutation{"delete " + p, func(m map[string]string) { delete(m, p) }, []string{p}})
		added := path.Join(path.Dir(p), "kustomization.yaml")
		if _, ok := files[added]; ok {
			added = path.Join(path.Dir(p), "zz-added.yaml")
		}
		if !global(added) {
			out = append(out, mutation{"add " + added, func(m map[string]string) {
				m[added] = "resources: []\n"
			}, []string{added}})
		}
	}
	return out
}

// TestUntouchedRendersTheSameCorpus is the property the change selection
// rests on: over the whole corpus, for each environment and each of a
// sample of mutations of the repo (a file edited, deleted, a file added),
// when the probe comparison calls the environment untouched, its render at
// the head equals its render at the base byte for byte (objects and
// findings). Environments found touched are counted, so the test shows it
// exercised both answers.
func TestUntouchedRendersTheSameCorpus(t *testing.T) {
	corpus.Wide(t)
	untouched, touched := 0, 0
	for _, dir := range corpus.Repos(t, "../..") {
		name := filepath.Base(filepath.Dir(dir)) + "/" + filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			files, ok := memOf(t, dir)
			if !ok {
				t.Skip("not a repo for this test")
			}
			base := source.NewMem("base", files)
			cfg, _, err := config.Load(base, "")
			if err != nil {
				return
			}
			envs, _ := render.Discover(base, cfg)
			if len(envs) == 0 {
				return
			}
			ctx := context.Background()
			r := render.New(render.Options{Timeout: 30 * time.Second})
			// The records the engine uses: rendered together, sharing
			// subtrees, as an incremental run renders a base.
			recs := r.Records(ctx, base, envs)
			want := map[string]string{}
			for _, e := range envs {
				want[e.Name] = renderBytes(r.Render(ctx, base, e))
			}
			req := &Request{Config: cfg}
			for _, m := range mutationsOf(files, globalFiles(req)) {
				headFiles := map[string]string{}
				for k, v := range files {
					headFiles[k] = v
				}
				m.apply(headFiles)
				head := source.NewMem("head", headFiles)
				cmp := newProbeCompare(base, head, m.changed, nil)
				cmp.all = false // in-memory trees have no symlinks
				for i, e := range envs {
					if recs[i] == nil {
						// Its base render was cut short (the race
						// detector on a loaded machine): no record, so
						// the engine would call it touched.
						touched++
						continue
					}
					if why := cmp.touched(*recs[i]); len(why) > 0 {
						touched++
						continue
					}
					untouched++
					checkSameRender(t, fmt.Sprintf("%s: env %s called untouched", m.name, e.Name), renderBytes(r.Render(ctx, head, e)), want[e.Name])
				}
			}
		})
	}
	t.Logf("%d untouched verdicts verified by rendering, %d touched", untouched, touched)
	if untouched < 300 || touched < 300 {
		t.Errorf("only %d untouched and %d touched verdicts", untouched, touched)
	}
}
