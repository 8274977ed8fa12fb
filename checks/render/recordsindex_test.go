package render

import (
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/source"
)

// askedSource is a Source a content ID names whole (as a commit's tree is),
// counting every question asked of it.
type askedSource struct {
	*source.Dir
	id    string
	asked *atomic.Int64
}

func (s askedSource) ContentID() string { return s.id }
func (s askedSource) ReadFile(n string) ([]byte, error) {
	s.asked.Add(1)
	return s.Dir.ReadFile(n)
}
func (s askedSource) Stat(n string) (fs.FileInfo, error) {
	s.asked.Add(1)
	return s.Dir.Stat(n)
}
func (s askedSource) ReadDir(n string) ([]fs.DirEntry, error) {
	s.asked.Add(1)
	return s.Dir.ReadDir(n)
}

// A warm Records at a tree its content ID names reads the records index
// and asks the tree nothing; another ID, or an index that does not parse,
// is never served from it, and the records stay those a render gives.
func TestRecordsIndexServesATreeWithoutAskingIt(t *testing.T) {
	dir, cfg := openExample(t)
	envs, _ := Discover(dir, cfg)
	if len(envs) < 2 {
		t.Fatalf("%d envs", len(envs))
	}
	cacheDir := t.TempDir()
	cache, err := OpenCache(cacheDir, "test")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	src := func(id string) (askedSource, *atomic.Int64) {
		n := &atomic.Int64{}
		return askedSource{Dir: dir, id: id, asked: n}, n
	}
	want := New(Options{}).Records(ctx, dir, envs)

	first, _ := src("tree-a")
	got := New(Options{Cache: cache}).Records(ctx, first, envs)
	if !reflect.DeepEqual(probesOf(got), probesOf(want)) {
		t.Fatal("first records differ from an uncached render's")
	}
	warm, asked := src("tree-a")
	got = New(Options{Cache: cache}).Records(ctx, warm, envs)
	if n := asked.Load(); n != 0 {
		t.Errorf("warm Records asked the tree %d questions, want none", n)
	}
	if !reflect.DeepEqual(probesOf(got), probesOf(want)) {
		t.Error("records from the index differ")
	}

	other, asked := src("tree-b")
	got = New(Options{Cache: cache}).Records(ctx, other, envs)
	if asked.Load() == 0 {
		t.Error("a tree with another content ID was served from tree-a's index")
	}
	if !reflect.DeepEqual(probesOf(got), probesOf(want)) {
		t.Error("records for tree-b differ")
	}

	// A record naming a pair the index does not hold: refused whole.
	key, _ := cache.recordsKey(warm)
	p := filepath.Join(cacheDir, key[:2], key+".json")
	var e recordsEntry
	b, err := os.ReadFile(p)
	if err != nil || json.Unmarshal(b, &e) != nil || len(e.Records) != len(envs) {
		t.Fatalf("read the index: %v (%d records)", err, len(e.Records))
	}
	for k, rec := range e.Records {
		rec.Pairs = append(rec.Pairs, len(e.Probes))
		e.Records[k] = rec
		break
	}
	if b, err = json.Marshal(e); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	broken, asked := src("tree-a")
	got = New(Options{Cache: cache}).Records(ctx, broken, envs)
	if asked.Load() == 0 {
		t.Error("an index whose record names a pair it does not hold was used")
	}
	if !reflect.DeepEqual(probesOf(got), probesOf(want)) {
		t.Error("records after a broken index differ")
	}
}

// probesOf is what the engine compares of records: probes and answers.
func probesOf(recs []*Record) [][2]any {
	out := make([][2]any, len(recs))
	for i, r := range recs {
		if r != nil {
			out[i] = [2]any{r.Probes, r.Answers}
		}
	}
	return out
}

// TestRecordsOfACutRenderAreNone: a render cut by its deadline probed less
// than a whole one, so Records gives no record for it (a record would call
// the environment untouched by a change to a file it never got to read),
// while the environment beside it, whole, gets its record.
func TestRecordsOfACutRenderAreNone(t *testing.T) {
	src := source.NewMem("test", map[string]string{
		"loop/Chart.yaml":          "apiVersion: v2\nname: loop\nversion: 0.1.0\n",
		"loop/templates/cm.yaml":   "{{- range $i := until 1000000 }}{{- range $j := until 1000000 }}x{{ end }}{{ end }}\n",
		"plain/kustomization.yaml": "resources: [cm.yaml]\n",
		"plain/cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
	})
	envs := []checks.Env{{Name: "loop", Path: "loop", Kind: KindHelm}, {Name: "plain", Path: "plain", Kind: KindKustomize}}
	for _, cached := range []bool{false, true} {
		opts := Options{Timeout: 300 * time.Millisecond}
		if cached {
			c, err := OpenCache(t.TempDir(), "test")
			if err != nil {
				t.Fatal(err)
			}
			opts.Cache = c
		}
		recs := New(opts).Records(context.Background(), src, envs)
		if recs[0] != nil {
			t.Errorf("cache %v: the timed-out render has a record of %d probes", cached, len(recs[0].Probes))
		}
		if recs[1] == nil || len(recs[1].Probes) == 0 {
			t.Errorf("cache %v: the whole render has no record", cached)
		}
	}
}
