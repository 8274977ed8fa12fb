package render

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"reflect"
	"strings"
	"testing"
)

// TestDecodeClosuresAsJSON: the fast reader of stored closures returns
// what json.Unmarshal does for entries storeClosures writes (paths with
// quotes, backslashes, newlines, non-ASCII and invalid UTF-8 included),
// and for any byte of such an entry changed or cut it either declines
// or agrees with json.Unmarshal, which then succeeds too.
func TestDecodeClosuresAsJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	parts := []string{"a", "envs", "b.yaml", `q"uote`, `back\slash`, "new\nline", "é", "\xff\xfe", "<&>", "sp ace", "\t", "0"}
	word := func() string {
		var l []string
		for n := r.IntN(4); n >= 0; n-- {
			l = append(l, parts[r.IntN(len(parts))])
		}
		return strings.Join(l, "/")
	}
	agree := func(b []byte, must bool) {
		t.Helper()
		got, ok := decodeClosures(b)
		var want closuresEntry
		err := json.Unmarshal(b, &want)
		if must && !ok {
			t.Fatalf("declined an entry it writes: %q", b)
		}
		if ok && (err != nil || !reflect.DeepEqual(got, want)) {
			t.Fatalf("decoded %q as %+v; json.Unmarshal: %+v, %v", b, got, want, err)
		}
	}
	for i := 0; i < 300; i++ {
		var cls []*Closure
		for n := r.IntN(4); n >= 0; n-- {
			c := &Closure{Env: word()}
			if r.IntN(5) == 0 {
				c.Whole = word()
			}
			for _, l := range []*[]string{&c.Dirs, &c.Files, &c.Named} {
				for k := r.IntN(6); k > 0; k-- {
					*l = append(*l, word())
				}
			}
			cls = append(cls, c)
		}
		cache, err := OpenCache(t.TempDir(), "test")
		if err != nil {
			t.Fatal(err)
		}
		if err := cache.storeClosures("c-x", cls); err != nil {
			t.Fatal(err)
		}
		b := readCacheFile(t, cache, "c-x")
		plain := !strings.ContainsAny(string(b), "\\\x80\xff")
		agree(b, plain)
		for k := 0; k < 40; k++ {
			m := append([]byte(nil), b...)
			switch j := r.IntN(len(m)); r.IntN(4) {
			case 3:
				m = append(m, "0 ]}x"[r.IntN(5)])
			case 0:
				m[j] = "0123456789,[]{}\":-. x\\"[r.IntN(22)]
			case 1:
				m = m[:j]
			default:
				m = append(m[:j], m[j+1:]...)
			}
			agree(m, false)
		}
	}
}

func readCacheFile(t *testing.T, c *Cache, key string) []byte {
	t.Helper()
	b, err := os.ReadFile(c.path(key))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
