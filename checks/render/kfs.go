package render

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/gate-ops/gate/checks/source"
)

// kfs adapts a Source to kustomize's filesys.FileSystem. The repo root is
// "/". Writes are refused (a render must not change anything), overrides
// serve rewritten kustomizations and generated Helm output, and every read
// is recorded so gate knows which files an environment depends on.
type kfs struct {
	src       source.Source
	overrides map[string][]byte // repo-relative path -> content

	mu   sync.Mutex
	read map[string]struct{}
}

var errReadOnly = errors.New("gate renders read-only: kustomize tried to write")

func newKFS(src source.Source) *kfs {
	return &kfs{src: src, overrides: map[string][]byte{}, read: map[string]struct{}{}}
}

// rel turns kustomize's absolute path into a repo-relative one.
func (k *kfs) rel(p string) (string, error) {
	p = filepath.ToSlash(p)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	c := path.Clean(p)
	if c == "/" {
		return ".", nil
	}
	return source.Clean(strings.TrimPrefix(c, "/"))
}

func (k *kfs) record(p string) {
	k.mu.Lock()
	k.read[p] = struct{}{}
	k.mu.Unlock()
}

// Reads lists the repo-relative files read, sorted.
func (k *kfs) Reads() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]string, 0, len(k.read))
	for p := range k.read {
		if _, virtual := k.overrides[p]; virtual && isVirtual(p) {
			continue
		}
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

func isVirtual(p string) bool {
	b := path.Base(p)
	return strings.Contains(b, virtualPrefix) || strings.HasPrefix(b, memoPrefix)
}

func (k *kfs) Create(string) (filesys.File, error) { return nil, errReadOnly }
func (k *kfs) Mkdir(string) error                  { return errReadOnly }
func (k *kfs) MkdirAll(string) error               { return errReadOnly }
func (k *kfs) RemoveAll(string) error              { return errReadOnly }
func (k *kfs) WriteFile(string, []byte) error      { return errReadOnly }

func (k *kfs) Open(p string) (filesys.File, error) {
	b, err := k.ReadFile(p)
	if err != nil {
		return nil, err
	}
	return &roFile{name: p, r: bytes.NewReader(b), size: int64(len(b))}, nil
}

func (k *kfs) IsDir(p string) bool {
	r, err := k.rel(p)
	if err != nil {
		return false
	}
	fi, err := k.src.Stat(r)
	return err == nil && fi.IsDir()
}

func (k *kfs) ReadDir(p string) ([]string, error) {
	r, err := k.rel(p)
	if err != nil {
		return nil, err
	}
	ents, err := k.src.ReadDir(r)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(ents))
	for _, e := range ents {
		out = append(out, e.Name())
	}
	for o := range k.overrides {
		if path.Dir(o) == r && isVirtual(o) {
			out = append(out, path.Base(o))
		}
	}
	sort.Strings(out)
	return out, nil
}

func (k *kfs) CleanedAbs(p string) (filesys.ConfirmedDir, string, error) {
	r, err := k.rel(p)
	if err != nil {
		return "", "", err
	}
	abs := "/" + r
	if r == "." {
		abs = "/"
	}
	if _, ok := k.overrides[r]; ok {
		return filesys.ConfirmedDir(path.Dir(abs)), path.Base(abs), nil
	}
	fi, err := k.src.Stat(r)
	if err != nil {
		return "", "", fmt.Errorf("'%s' doesn't exist", abs)
	}
	if fi.IsDir() {
		return filesys.ConfirmedDir(abs), "", nil
	}
	return filesys.ConfirmedDir(path.Dir(abs)), path.Base(abs), nil
}

func (k *kfs) Exists(p string) bool {
	r, err := k.rel(p)
	if err != nil {
		return false
	}
	if _, ok := k.overrides[r]; ok {
		return true
	}
	_, err = k.src.Stat(r)
	return err == nil
}

func (k *kfs) Glob(pattern string) ([]string, error) {
	dir, base := path.Split(filepath.ToSlash(pattern))
	names, err := k.ReadDir(dir)
	if err != nil {
		return nil, nil //nolint:nilerr // glob of a missing dir matches nothing
	}
	var out []string
	for _, n := range names {
		if ok, _ := path.Match(base, n); ok {
			out = append(out, path.Join(dir, n))
		}
	}
	return out, nil
}

func (k *kfs) ReadFile(p string) ([]byte, error) {
	r, err := k.rel(p)
	if err != nil {
		return nil, err
	}
	k.record(r)
	if b, ok := k.overrides[r]; ok {
		return b, nil
	}
	b, err := k.src.ReadFile(r)
	if err != nil {
		return nil, err
	}
	return b, nil
}

func (k *kfs) Walk(p string, fn filepath.WalkFunc) error {
	r, err := k.rel(p)
	if err != nil {
		return err
	}
	return fs.WalkDir(k.src, r, func(sub string, d fs.DirEntry, err error) error {
		abs := "/" + sub
		if err != nil {
			return fn(abs, nil, err)
		}
		fi, ierr := d.Info()
		if ierr != nil {
			return fn(abs, nil, ierr)
		}
		return fn(abs, fi, nil)
	})
}

var _ filesys.FileSystem = (*kfs)(nil)

type roFile struct {
	name string
	r    *bytes.Reader
	size int64
}

func (f *roFile) Read(b []byte) (int, error) { return f.r.Read(b) }
func (f *roFile) Write([]byte) (int, error)  { return 0, errReadOnly }
func (f *roFile) Close() error               { return nil }
func (f *roFile) Stat() (os.FileInfo, error) { return roInfo{f}, nil }

type roInfo struct{ f *roFile }

func (i roInfo) Name() string       { return path.Base(i.f.name) }
func (i roInfo) Size() int64        { return i.f.size }
func (i roInfo) Mode() os.FileMode  { return 0o444 }
func (i roInfo) ModTime() time.Time { return time.Time{} }
func (i roInfo) IsDir() bool        { return false }
func (i roInfo) Sys() any           { return nil }
