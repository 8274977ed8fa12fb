package render

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/source"
	"github.com/gate-ops/gate/internal/testing/corpus"
)

// sameClosure fails t unless got is want, every list in order.
func sameClosure(t *testing.T, where string, got, want *Closure) bool {
	t.Helper()
	g := Closure{Env: got.Env, Whole: got.Whole, Dirs: got.Dirs, Files: got.Files, Named: got.Named}
	w := Closure{Env: want.Env, Whole: want.Whole, Dirs: want.Dirs, Files: want.Files, Named: want.Named}
	if !reflect.DeepEqual(g.Env, w.Env) || g.Whole != w.Whole || !reflect.DeepEqual(g.Dirs, w.Dirs) ||
		!reflect.DeepEqual(g.Files, w.Files) || !reflect.DeepEqual(g.Named, w.Named) {
		t.Errorf("%s: closure of %s differs from the naive fixpoint's:\n got  whole=%q dirs=%q files=%q named=%q\n want whole=%q dirs=%q files=%q named=%q",
			where, want.Env, g.Whole, g.Dirs, g.Files, g.Named, w.Whole, w.Dirs, w.Files, w.Named)
		return false
	}
	return true
}

// closuresMatchReference computes every env's closure at src the way
// gate does (one index for all of them) and the naive way.
func closuresMatchReference(t *testing.T, where string, src source.Source, envs []checks.Env) int {
	t.Helper()
	got := New(Options{}).Closures(src, envs)
	for i, e := range envs {
		if !sameClosure(t, where, got[i], refClosure(src, e)) {
			return 1
		}
	}
	return 0
}

func writeTree(t *testing.T, dir string, files map[string]string, links map[string]string) {
	t.Helper()
	for p, body := range files {
		f := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for p, to := range links {
		f := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(to, f); err != nil {
			t.Fatal(err)
		}
	}
}

func kust(refs ...string) string {
	return "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- " + strings.Join(refs, "\n- ") + "\n"
}

// TestClosureFixpointShapes: closures of shapes the fixpoint's order and
// the index's shortcuts could get wrong equal the naive computation's:
// climbing strings found late (a base two rounds away brings the string
// that reaches a third), climbing from every base (a parsed file's and
// every closure dir's), names under missing directories and under files,
// symlinks to directories, files, missing and escaping targets, a loop,
// a name through a symlinked ancestor, two files that make the closure
// whole met in either order or through bases met out of their sorted
// order, and a string under a non-path key.
func TestClosureFixpointShapes(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"envs/a/kustomization.yaml":        kust("../../lib/one", "missing/deeper/x.yaml", "kustomization.yaml/x"),
		"envs/a/deep/sub/gen.yaml":         "kind: x\napiVersion: builtin\nfiles:\n- ../../../../lib/late\n",
		"lib/one/kustomization.yaml":       kust("../two"),
		"lib/two/kustomization.yaml":       kust("../three", "../../shared/../lib/four"),
		"lib/three/kustomization.yaml":     kust("../../../up-too-far", "../real/y.yaml"),
		"lib/four/kustomization.yaml":      kust("../linked/inner", "../dirlink/y.yaml"),
		"lib/late/kustomization.yaml":      kust("../../other"),
		"lib/real/inner/x.yaml":            "a: b\n",
		"lib/real/y.yaml":                  "a: b\n",
		"other/kustomization.yaml":         "apiVersion: kustomize.config.k8s.io/v1beta1\nnamePrefix: ../named-not-path\nresources:\n- ok\n",
		"other/ok/cm.yaml":                 "kind: ConfigMap\n",
		"envs/b/kustomization.yaml":        kust("../../w1", "../../w2"),
		"w1/kustomization.yaml":            kust("${LATE}"),
		"w2/kustomization.yaml":            kust("'{{ .early }}'"),
		"envs/c/kustomization.yaml":        kust("../../w2", "../../w1"),
		"envs/d/kustomization.yaml":        kust("via/nothing.yaml", "../../loop1/x"),
		"envs/d/values.yaml":               "apiVersion: builtin\npath: ../../lib/three\n",
		"envs/h/Chart.yaml":                "name: h\ndependencies:\n- repository: file://../../lib/one\n",
		"envs/h/values-prod.yaml":          "a: b\n",
		"envs/m/kustomization.yaml":        kust("../../zz/q", "../../aa/q", "../w"),
		"zz/q/cm.yaml":                     "kind: ConfigMap\n",
		"aa/q/cm.yaml":                     "kind: ConfigMap\n",
		"zz/w/kustomization.yaml":          kust("${ZZ}"),
		"aa/w/kustomization.yaml":          kust("${AA}"),
		"envs/e/sub/dir/kustomization.yml": kust("../../../../lib/one", "../../../linkdir/missing/z.yaml"),
	}, map[string]string{
		"lib/linked":     "real",
		"lib/dirlink":    "real",
		"envs/d/via":     "../../lib/real",
		"envs/d/tofile":  "../../lib/real/y.yaml",
		"envs/d/escape":  "/etc",
		"envs/d/up":      "../../..",
		"envs/d/nowhere": "../../no/such",
		"loop1":          "loop2",
		"loop2":          "loop1",
		"envs/linkdir":   "../lib/real",
	})
	envs := []checks.Env{
		{Name: "a", Path: "envs/a", Kind: KindKustomize},
		{Name: "b", Path: "envs/b", Kind: KindKustomize},
		{Name: "c", Path: "envs/c", Kind: KindKustomize},
		{Name: "d", Path: "envs/d", Kind: KindKustomize},
		{Name: "e", Path: "envs/e/sub/dir", Kind: KindKustomize},
		{Name: "m", Path: "envs/m", Kind: KindKustomize},
		{Name: "h", Path: "envs/h", Kind: KindHelm, ValuesFiles: []string{"envs/h/values-prod.yaml", "envs/missing/v.yaml"}},
	}
	d, err := source.OpenDir(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	closuresMatchReference(t, "shapes", d, envs)
	cls := New(Options{}).Closures(d, envs)
	if !slicesContain(cls[0].Dirs, "other") || !slicesContain(cls[0].Dirs, "lib/four") {
		t.Errorf("env a: the late bases' targets are not in %q", cls[0].Dirs)
	}
	if !strings.HasPrefix(cls[1].Whole, "w1/kustomization.yaml") || !strings.HasPrefix(cls[2].Whole, "w2/kustomization.yaml") {
		t.Errorf("whole reasons: b %q, c %q", cls[1].Whole, cls[2].Whole)
	}
	// Bases met zz/q then aa/q: the climbing string ../w joins them sorted.
	if !strings.HasPrefix(cls[5].Whole, "aa/w/kustomization.yaml") {
		t.Errorf("whole reason of m: %q", cls[5].Whole)
	}
}

func slicesContain(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// TestClosureFixpointRandomRepos: on 300 generated repos (kustomizations
// and marked files naming one another through climbing, plain, globbed
// and templated strings; symlinks to directories, files, missing and
// escaping targets and loops), every environment's closure equals the
// naive fixpoint's, on disk and in memory.
func TestClosureFixpointRandomRepos(t *testing.T) {
	differ := 0
	for seed := uint64(1); seed <= 300 && differ < 3; seed++ {
		files, links := randomRepo(rand.New(rand.NewPCG(seed, 7)))
		dir := t.TempDir()
		writeTree(t, dir, files, links)
		d, err := source.OpenDir(dir, 0)
		if err != nil {
			t.Fatal(err)
		}
		var envs []checks.Env
		for _, e := range []string{"envs/e1", "envs/e2", "envs/e3/deep", "lib/a"} {
			envs = append(envs, checks.Env{Name: path.Base(e), Path: e, Kind: KindKustomize})
		}
		envs = append(envs, checks.Env{Name: "helm", Path: "charts/c", Kind: KindHelm, ValuesFiles: []string{"envs/e1/values.yaml"}})
		differ += closuresMatchReference(t, fmt.Sprintf("seed %d (disk)", seed), d, envs)
		d.Close()
		if len(links) == 0 {
			differ += closuresMatchReference(t, fmt.Sprintf("seed %d (memory)", seed), source.NewMem("m", files), envs)
		}
	}
}

var randomDirs = []string{"envs/e1", "envs/e2", "envs/e3/deep", "lib/a", "lib/b", "lib/b/sub", "base", "base/x/y", "charts/c", "shared"}

var randomRefs = []string{
	"../../lib/a", "../../lib/b", "../b/sub", "../../base", "../../../base/x/y", "..", "../..", "../../..", "../../../..",
	"sub", "x", "x/y", "../x/../../shared", "cm.yaml", "missing/z.yaml", "../missing/deeper/q.yaml", "../../envs/e2",
	"../*.yaml", "../../lib/*/kustomization.yaml", "ok=../../shared/cm.yaml", "file://../../base", "${LATE}",
	"'{{ .x }}'", "https://example.com/x", "../link", "../../linkdir/inner", "../../charts/c",
}

// randomRepo is a small ops repo drawn from r.
func randomRepo(r *rand.Rand) (map[string]string, map[string]string) {
	files := map[string]string{}
	for _, d := range randomDirs {
		if r.IntN(4) == 0 {
			continue
		}
		var refs []string
		for n := r.IntN(4); n >= 0; n-- {
			ref := randomRefs[r.IntN(len(randomRefs))]
			if strings.Contains(ref, "{") && r.IntN(3) > 0 {
				continue // templated strings: now and then
			}
			refs = append(refs, ref)
		}
		if len(refs) == 0 {
			refs = append(refs, "cm.yaml")
		}
		switch r.IntN(4) {
		case 0:
			files[d+"/gen.yaml"] = "apiVersion: builtin\nkind: X\nname: " + refs[0] + "\nfiles:\n- " + strings.Join(refs, "\n- ") + "\n"
		case 1:
			files[d+"/Chart.yaml"] = "name: c\ndependencies:\n- repository: " + refs[0] + "\n"
		default:
			files[d+"/kustomization.yaml"] = kust(refs...)
		}
		if r.IntN(2) == 0 {
			files[d+"/cm.yaml"] = "kind: ConfigMap\n"
		}
	}
	files["envs/e1/values.yaml"] = "a: b\n"
	links := map[string]string{}
	if r.IntN(3) > 0 {
		targets := []string{"../lib/b", "../../lib/a/kustomization.yaml", "../nowhere", "/etc", "../..", "self", "../../base"}
		for n := r.IntN(4); n >= 0; n-- {
			links[randomDirs[r.IntN(len(randomDirs))]+"/link"] = targets[r.IntN(len(targets))]
		}
		if r.IntN(2) == 0 {
			links["linkdir"] = "lib/b"
		}
	}
	return files, links
}

// TestClosureMatchesReferenceCorpus: every environment of every corpus
// repo has the closure the naive fixpoint computes.
func TestClosureMatchesReferenceCorpus(t *testing.T) {
	corpus.Wide(t)
	n := 0
	for _, dir := range corpus.Repos(t, "../..") {
		d, err := source.OpenDir(dir, 0)
		if err != nil {
			continue
		}
		cfg, _, err := config.Load(d, "")
		if err == nil {
			envs, _ := Discover(d, cfg)
			n += len(envs)
			closuresMatchReference(t, dir, d, envs)
		}
		d.Close()
	}
	if n < 200 {
		t.Errorf("only %d environments compared", n)
	}
	t.Logf("%d environments compared", n)
}

// TestClimbJoinIsSourceJoin: the lexical join of a climbing string and a
// base answers as source.Join, over plain and odd components.
func TestClimbJoinIsSourceJoin(t *testing.T) {
	parts := []string{"a", "b", "..", ".", ".git", "c:", "x\\y", "d", "", "e.yaml", "..."}
	r := rand.New(rand.NewPCG(1, 2))
	word := func(max int) string {
		var l []string
		for n := r.IntN(max); n >= 0; n-- {
			l = append(l, parts[r.IntN(len(parts))])
		}
		return strings.Join(l, "/")
	}
	for i := 0; i < 20000; i++ {
		b := path.Clean(word(4))
		u := path.Clean(strings.Repeat("../", 1+r.IntN(3)) + word(3))
		if !(u == ".." || strings.HasPrefix(u, "../")) {
			continue
		}
		want, err := source.Join(b, u)
		got, ok := climbOf(u).join(baseOf(b))
		if ok != (err == nil) || ok && got != want {
			t.Fatalf("join(%q, %q) = %q, %v; source.Join: %q, %v", b, u, got, ok, want, err)
		}
	}
}
