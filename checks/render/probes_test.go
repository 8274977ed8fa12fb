package render

import (
	"context"
	"io/fs"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/source"
	"github.com/gate-ops/gate/internal/testing/corpus"
)

// spySource records, independently of source.Recorder, every call a render
// makes on the Source it is given: what the test holds the render's own
// record (Result.Probes) against.
type spySource struct {
	*source.Dir
	mu    sync.Mutex
	calls map[source.Probe]bool
}

func newSpy(d *source.Dir) *spySource { return &spySource{Dir: d, calls: map[source.Probe]bool{}} }

func (s *spySource) note(op, name string) {
	c, err := source.Clean(name)
	if err != nil {
		return
	}
	s.mu.Lock()
	s.calls[source.Probe{Op: op, Path: c}] = true
	s.mu.Unlock()
}

func (s *spySource) ReadFile(name string) ([]byte, error) {
	s.note(source.ProbeFile, name)
	return s.Dir.ReadFile(name)
}

func (s *spySource) Stat(name string) (fs.FileInfo, error) {
	s.note(source.ProbeStat, name)
	return s.Dir.Stat(name)
}

func (s *spySource) ReadDir(name string) ([]fs.DirEntry, error) {
	s.note(source.ProbeDir, name)
	return s.Dir.ReadDir(name)
}

func (s *spySource) Open(name string) (fs.File, error) {
	s.note(source.ProbeStat, name)
	return s.Dir.Open(name)
}

func (s *spySource) Resolve(name string) (string, error) {
	s.note(source.ProbeResolve, name)
	return s.Dir.Resolve(name)
}

func (s *spySource) taken() map[source.Probe]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.calls
	s.calls = map[source.Probe]bool{}
	return out
}

// TestProbesCoverReadsCorpus: over every repo of testdata, the hostile
// corpus and the shared corpus, every call a render makes on its Source
// (reads, stats, listings, misses included), seen from outside by a
// wrapping Source, is in that environment's probe record: the record is
// complete for every renderer (kustomize with builtin plugins and
// helmCharts, Helm, plain YAML, Argo CD, Flux). Rendered one environment
// at a time the attribution is exact; rendered together (shared subtrees,
// memoised scans) the union still is.
func TestProbesCoverReadsCorpus(t *testing.T) {
	corpus.Wide(t)
	checked := 0
	for _, dir := range corpus.Repos(t, "../..") {
		name := filepath.Base(filepath.Dir(dir)) + "/" + filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			d, err := source.OpenDir(dir, 0)
			if err != nil {
				t.Skipf("not a repo: %v", err)
			}
			defer d.Close()
			cfg, _, err := config.Load(d, "")
			if err != nil {
				return
			}
			envs, _ := Discover(d, cfg)
			spy := newSpy(d)
			r := New(Options{})
			// The closures a render is confined to are computed once per
			// source, not probed (the render cache keys them by digest).
			r.Closures(spy, envs)
			for _, e := range envs {
				spy.taken()
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				res := r.Render(ctx, spy, e)
				cancel()
				probed := map[source.Probe]bool{}
				for _, p := range res.Probes {
					probed[p] = true
				}
				for c := range spy.taken() {
					checked++
					if !probed[c] {
						t.Errorf("env %s: the render called %s %s on its Source; not in its probes", e.Name, c.Op, c.Path)
					}
				}
			}
			spy.taken()
			union := map[source.Probe]bool{}
			for _, res := range r.RenderAll(context.Background(), spy, envs) {
				for _, p := range res.Probes {
					union[p] = true
				}
			}
			for c := range spy.taken() {
				if !union[c] {
					t.Errorf("RenderAll called %s %s on its Source; in no environment's probes", c.Op, c.Path)
				}
			}
		})
	}
	if checked < 1000 {
		t.Errorf("only %d calls checked", checked)
	}
	t.Logf("%d calls checked", checked)
}

// TestRecorderCatchesEveryCall: the recorder itself, on every method of
// Source, misses included.
func TestRecorderCatchesEveryCall(t *testing.T) {
	src := source.NewMem("x", map[string]string{"a/b.yaml": "x: 1\n"})
	rec := source.Record(src)
	_, _ = rec.ReadFile("a/b.yaml")
	_, _ = rec.ReadFile("a/missing.yaml")
	_, _ = rec.Stat("a/nothere")
	_, _ = rec.ReadDir("a")
	if f, err := rec.Open("a"); err == nil {
		f.Close()
	}
	var got []string
	for _, p := range rec.Probes() {
		got = append(got, p.Op+" "+p.Path)
	}
	sort.Strings(got)
	want := []string{"d a", "f a/b.yaml", "f a/missing.yaml", "s a", "s a/nothere"}
	if len(got) != len(want) {
		t.Fatalf("probes %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("probes %v, want %v", got, want)
		}
	}
	if a := source.Answer(src, source.Probe{Op: source.ProbeFile, Path: "a/missing.yaml"}); a != "absent" {
		t.Errorf("a miss answers %q, want absent", a)
	}
}
