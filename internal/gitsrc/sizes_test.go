package gitsrc

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/storage/filesystem"

	"github.com/gate-ops/gate/checks/source"
	"github.com/gate-ops/gate/internal/testing/gittest"
)

// countingStorage counts the object headers read for sizes.
type countingStorage struct {
	*filesystem.Storage
	sizes map[plumbing.Hash]int
}

func (c *countingStorage) EncodedObjectSize(h plumbing.Hash) (int64, error) {
	c.sizes[h]++
	return c.Storage.EncodedObjectSize(h)
}

// Stat of many paths holding one blob (the shared bases every
// environment's probes stat) reads that blob's header once, and a blob
// over the limit stays over it when asked again.
func TestStatReadsEachBlobHeaderOnce(t *testing.T) {
	r := gittest.New(t)
	for i := range 20 {
		r.Write(fmt.Sprintf("envs/e%02d/base.yaml", i), "kind: ConfigMap\n")
	}
	r.Write("big.yaml", strings.Repeat("a", 2048))
	r.Commit("shared")
	plain, err := Open(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	fsStorage, ok := plain.Storer.(*filesystem.Storage)
	if !ok {
		t.Fatalf("storer is %T", plain.Storer)
	}
	cs := &countingStorage{Storage: fsStorage, sizes: map[plumbing.Hash]int{}}
	repo, err := git.Open(cs, nil)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := FromRev(repo, "HEAD", 1024)
	if err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		for i := range 20 {
			fi, err := tree.Stat(fmt.Sprintf("envs/e%02d/base.yaml", i))
			if err != nil || fi.Size() != int64(len("kind: ConfigMap\n")) {
				t.Fatalf("round %d: Stat = %v, %v", round, fi, err)
			}
		}
		var le *source.LimitError
		if _, err := tree.Stat("big.yaml"); !errors.As(err, &le) || le.Size != 2048 {
			t.Fatalf("round %d: Stat(big.yaml) = %v, want a limit error for 2048 bytes", round, err)
		}
	}
	if len(cs.sizes) != 2 {
		t.Errorf("read the headers of %d blobs, want 2", len(cs.sizes))
	}
	for h, n := range cs.sizes {
		if n != 1 {
			t.Errorf("blob %s: header read %d times, want once", h, n)
		}
	}
}

// BenchmarkStatSharedBlobs stats 50 environments' copies of 20 shared
// files, as probing every environment's base records does.
func BenchmarkStatSharedBlobs(b *testing.B) {
	r := gittest.New(b)
	for f := range 20 {
		r.Write(fmt.Sprintf("apps/a%02d.yaml", f), fmt.Sprintf("kind: ConfigMap # %d\n", f))
	}
	r.Commit("apps")
	repo, err := Open(r.Dir)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		tree, err := FromRev(repo, "HEAD", 0)
		if err != nil {
			b.Fatal(err)
		}
		for range 50 {
			for f := range 20 {
				if _, err := tree.Stat(fmt.Sprintf("apps/a%02d.yaml", f)); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
}

// BenchmarkResolveDeep resolves paths five directories deep, as every
// probe of a base record is.
func BenchmarkResolveDeep(b *testing.B) {
	r := gittest.New(b)
	for f := range 20 {
		r.Write(fmt.Sprintf("apps/team/a%02d/base/config/file.yaml", f), "kind: ConfigMap\n")
	}
	r.Commit("apps")
	repo, err := Open(r.Dir)
	if err != nil {
		b.Fatal(err)
	}
	tree, err := FromRev(repo, "HEAD", 0)
	if err != nil {
		b.Fatal(err)
	}
	names := make([]string, 20)
	for f := range names {
		names[f] = fmt.Sprintf("apps/team/a%02d/base/config/file.yaml", f)
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, n := range names {
			if _, err := tree.Resolve(n); err != nil {
				b.Fatal(err)
			}
		}
	}
}
