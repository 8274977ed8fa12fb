package render

import (
	"bytes"
	"os"
	"path"
	"strings"
	"testing"
)

// The closures of a tree are stored with each path once, read back
// without being indexed, and an entry naming a path it does not hold is
// refused whole (issue 20: a warm run read 2.5 MB of closures, 64,241
// paths of which 5,667 differ, and indexed all 50 to ask about one file).
func TestClosuresStoredOnceReadUnindexed(t *testing.T) {
	dir, cfg := openExample(t)
	envs, _ := Discover(dir, cfg)
	want := New(Options{}).Closures(dir, envs)
	shared := ""
	for _, p := range want[0].Dirs {
		n := 0
		for _, c := range want {
			if c.Touches(p) && c.TouchedBy([]string{p}) != nil {
				n++
			}
		}
		if n > 1 {
			shared = p
		}
	}
	cache, err := OpenCache(t.TempDir(), "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := cache.storeClosures("c-x", want); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(cache.path("c-x"))
	if err != nil {
		t.Fatal(err)
	}
	if shared == "" {
		t.Fatal("no path shared by two closures in the example repo")
	}
	if n := bytes.Count(b, []byte(`"`+shared+`"`)); n != 1 {
		t.Errorf("%q stored %d times, want once", shared, n)
	}
	got, ok := cache.loadClosures("c-x", envs)
	if !ok {
		t.Fatal("stored closures not read back")
	}
	for i, c := range got {
		if c.dirs != nil || c.named != nil {
			t.Errorf("%s: read back indexed", c.Env)
		}
		if c.Digest() != want[i].Digest() {
			t.Errorf("%s: read back with another digest", c.Env)
		}
	}
	bad := bytes.Replace(b, []byte(`"dirs":[`), []byte(`"dirs":[99999,`), 1)
	if err := os.WriteFile(cache.path("c-x"), bad, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, ok := cache.loadClosures("c-x", envs); ok {
		t.Error("an entry naming a path it does not hold was read")
	}
}

// TouchedBy, asking the lists, answers as Touches, asking the index.
func TestTouchedByAnswersAsTouches(t *testing.T) {
	dir, cfg := openExample(t)
	envs, _ := Discover(dir, cfg)
	cls := New(Options{}).Closures(dir, envs)
	cls = append(cls,
		&Closure{Env: "dot", Dirs: []string{"."}},
		&Closure{Env: "whole", Whole: "templated"},
		&Closure{Env: "mixed", Dirs: []string{"a/b"}, Files: []string{"c/d.yaml", "ab"}, Named: []string{"x/y/z", "a/bc"}})
	for _, c := range cls {
		cands := map[string]bool{".": true, "zz": true, "a": true, "a/b/c": true, "a/bb": true}
		for _, l := range [][]string{c.Dirs, c.Files, c.Named} {
			for _, p := range l {
				for q := p; ; q = path.Dir(q) {
					cands[q], cands[q+"/x"], cands[q+"x"], cands[strings.TrimSuffix(q, "/")+"-sib"] = true, true, true, true
					if q == "." {
						break
					}
				}
			}
		}
		for p := range cands {
			if got, want := c.TouchedBy([]string{p}) != nil, c.Touches(p); got != want {
				t.Errorf("%s: TouchedBy(%q) %v, Touches %v", c.Env, p, got, want)
			}
		}
	}
}
