package engine

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gate-ops/gate/checks/render"
	"github.com/gate-ops/gate/checks/source"
)

func diskStore(t *testing.T, dir, salt string) *Verdicts {
	t.Helper()
	c, err := render.OpenCache(dir, salt)
	if err != nil {
		t.Fatal(err)
	}
	v := NewVerdicts()
	v.disk = newVerdictDisk(c)
	return v
}

func testKeys(n int, seed string) [][32]byte {
	var ks [][32]byte
	for i := range n {
		ks = append(ks, sha256.Sum256([]byte(seed+string(rune('a'+i)))))
	}
	return ks
}

// persisted writes a pack of three verdicts (one empty) and returns its path.
func persisted(t *testing.T, dir string) ([][32]byte, []string, string) {
	t.Helper()
	keys := testKeys(3, "k")
	vals := []string{`[{"r":"x","s":"error","m":"boom"}]`, ``, `{"r0":[]}`}
	v := diskStore(t, dir, "build-1")
	for i, k := range keys {
		v.Put(k, []byte(vals[i]))
	}
	v.Persist(keys)
	files, _ := filepath.Glob(filepath.Join(dir, "verdicts", "*", "*.json"))
	if len(files) != 1 {
		t.Fatalf("want one pack, got %v", files)
	}
	return keys, vals, files[0]
}

// hits prefetches keys into a fresh store and returns what it holds.
func hits(t *testing.T, dir, salt string, keys [][32]byte) []string {
	t.Helper()
	v := diskStore(t, dir, salt)
	v.Prefetch(keys)
	var out []string
	for _, k := range keys {
		if b, ok := v.Get(k); ok {
			out = append(out, string(b))
		}
	}
	return out
}

// TestVerdictPackReadBack: a pack is read back whole by another run of the
// same build with the same keys, and by no other build or key list.
func TestVerdictPackReadBack(t *testing.T) {
	dir := t.TempDir()
	keys, vals, _ := persisted(t, dir)
	if got := hits(t, dir, "build-1", keys); strings.Join(got, "|") != strings.Join(vals, "|") {
		t.Errorf("read back %q, want %q", got, vals)
	}
	if got := hits(t, dir, "build-2", keys); len(got) != 0 {
		t.Errorf("another build read %q", got)
	}
	if got := hits(t, dir, "build-1", keys[:2]); len(got) != 0 {
		t.Errorf("other keys read %q", got)
	}
}

// TestVerdictPackTamperedIsRefused: a pack changed after it was written
// (a verdict, a key, its name, its format, cut short, grown past the
// limit) is refused whole: no verdict of it is used. A changed verdict is
// caught by the checksum; the other edits recompute the checksum, so each
// of the other checks is proved on its own.
func TestVerdictPackTamperedIsRefused(t *testing.T) {
	edits := map[string]func(p *verdictPack, path string) string{
		"verdict changed": func(p *verdictPack, path string) string {
			p.Entries[0].V = strings.Replace(p.Entries[0].V, "boom", "fine", 1)
			return path
		},
		"empty verdict filled": func(p *verdictPack, path string) string {
			p.Entries[1].V = `[{"r":"x","s":"error","m":"new"}]`
			return path
		},
		"keys swapped": func(p *verdictPack, path string) string {
			p.Entries[0].K, p.Entries[2].K = p.Entries[2].K, p.Entries[0].K
			p.Entries[0].V, p.Entries[2].V = p.Entries[2].V, p.Entries[0].V
			return path
		},
		"entry dropped": func(p *verdictPack, path string) string {
			p.Entries = p.Entries[:2]
			return path
		},
		"other format": func(p *verdictPack, path string) string {
			p.Format = "gate-verdict-pack/0"
			return path
		},
		"moved under another name": func(p *verdictPack, path string) string {
			other := filepath.Join(filepath.Dir(path), strings.Repeat("0", 64)+".json")
			os.Remove(path)
			p.Key = strings.Repeat("0", 64)
			return other
		},
	}
	for name, edit := range edits {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			keys, _, path := persisted(t, dir)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var p verdictPack
			if err := json.Unmarshal(b, &p); err != nil {
				t.Fatal(err)
			}
			path = edit(&p, path)
			if !strings.HasPrefix(name, "verdict") && !strings.HasPrefix(name, "empty") {
				p.Sum = packSum(p.Key, p.Entries)
			}
			b, _ = json.Marshal(p)
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			if got := hits(t, dir, "build-1", keys); len(got) != 0 {
				t.Errorf("tampered pack used: %q", got)
			}
		})
	}
	t.Run("another build's pack under this build's name", func(t *testing.T) {
		dir := t.TempDir()
		keys := testKeys(2, "k")
		other := diskStore(t, dir, "build-2")
		for _, k := range keys {
			other.Put(k, []byte(`{"r0":["other"]}`))
		}
		other.Persist(keys)
		mine := diskStore(t, dir, "build-1")
		from, to := other.disk.path(other.disk.name(keys)), mine.disk.path(mine.disk.name(keys))
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(to), 0o700)
		if err := os.WriteFile(to, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if got := hits(t, dir, "build-1", keys); len(got) != 0 {
			t.Errorf("another build's pack used: %q", got)
		}
	})
	for name, bad := range map[string]func([]byte) []byte{
		"cut short": func(b []byte) []byte { return b[:len(b)/2] },
		"too big":   func(b []byte) []byte { return append(b, bytes.Repeat([]byte(" "), maxPackBytes)...) },
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			keys, _, path := persisted(t, dir)
			b, _ := os.ReadFile(path)
			if err := os.WriteFile(path, bad(b), 0o600); err != nil {
				t.Fatal(err)
			}
			if got := hits(t, dir, "build-1", keys); len(got) != 0 {
				t.Errorf("bad pack used: %q", got)
			}
			// A refused pack is written again by the run that computed
			// the verdicts, and read back next time.
			v := diskStore(t, dir, "build-1")
			v.Prefetch(keys)
			for i, k := range keys {
				v.Put(k, []byte([]string{`[]`, ``, `{}`}[i]))
			}
			v.Persist(keys)
			if got := hits(t, dir, "build-1", keys); len(got) != 3 {
				t.Errorf("rewritten pack: %q", got)
			}
		})
	}
}

// A run with neither a base to share verdicts with nor a cache to keep
// them has no store: its stages digest no resource (a full check of the
// bench repo spent ~0.15 s of CPU on digests no one read).
func TestRunVerdictsOnlyWhenTheyCanBeReused(t *testing.T) {
	c, err := render.OpenCache(t.TempDir(), "salt")
	if err != nil {
		t.Fatal(err)
	}
	base := source.NewMem("base", map[string]string{"a.yaml": "x: 1\n"})
	for _, tc := range []struct {
		name string
		req  Request
		want bool
	}{
		{"no base, no cache", Request{}, false},
		{"a base", Request{Base: base}, true},
		{"a cache", Request{Render: render.Options{Cache: c}}, true},
	} {
		if got := runVerdicts(&tc.req) != nil; got != tc.want {
			t.Errorf("%s: store %v, want %v", tc.name, got, tc.want)
		}
	}
}
