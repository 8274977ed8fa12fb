// Package gitsrc reads ops-repo revisions straight from the git object store
// with go-git: a commit's tree or the staged index, never a checkout. Both are
// checks/source.Source, so the base of a pull request renders through the
// same code as the work tree.
package gitsrc

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/gate-ops/gate/checks/source"
)

// maxSymlinkHops bounds symlink chains, like the kernel's ELOOP.
const maxSymlinkHops = 40

type entry struct {
	hash plumbing.Hash
	mode filemode.FileMode
}

// Tree is a Source over a flat listing of blobs (a commit tree or the index).
// Blobs are read lazily and cached by hash: go-git's object storage is not
// safe for concurrent use, so reads are serialised by a mutex, and the cache
// makes every later read of the same content free.
type Tree struct {
	rev     string
	repo    *git.Repository
	files   map[string]entry
	dirs    map[string][]string // dir -> sorted child names
	maxSize int64
	// id identifies the content of a commit's tree (see ContentID).
	id string

	mu    sync.Mutex
	blobs map[plumbing.Hash][]byte
	// sizes memoises blob sizes read from object headers: a blob's hash
	// names its content, so its size never changes. Probing every
	// environment's base records stats the shared files of all of them,
	// and a loose object's header costs an open and an inflate.
	sizes map[plumbing.Hash]int64
	// resolved memoises resolve by name (the tree never changes): fifty
	// environments' probes ask the same shared paths again and again.
	resolved sync.Map // string -> resolution
}

type resolution struct {
	p     string
	isDir bool
	err   error
}

// Open opens the repository that contains dir (searching parents).
func Open(dir string) (*git.Repository, error) {
	r, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{DetectDotGit: true, EnableDotGitCommonDir: true})
	if err != nil {
		return nil, fmt.Errorf("open git repository at %s: %w", dir, err)
	}
	return r, nil
}

// ResolveCommit resolves a revision (branch, tag, SHA, HEAD~1) to a commit.
func ResolveCommit(repo *git.Repository, rev string) (*object.Commit, error) {
	h, err := repo.ResolveRevision(plumbing.Revision(rev))
	if err != nil {
		return nil, fmt.Errorf("resolve revision %q: %w", rev, err)
	}
	c, err := repo.CommitObject(*h)
	if err != nil {
		return nil, fmt.Errorf("read commit %s: %w", h, err)
	}
	return c, nil
}

// MergeBase returns the best common ancestor of base and head, the commit a
// pull request is compared against.
func MergeBase(repo *git.Repository, base, head string) (*object.Commit, error) {
	b, err := ResolveCommit(repo, base)
	if err != nil {
		return nil, err
	}
	h, err := ResolveCommit(repo, head)
	if err != nil {
		return nil, err
	}
	mbs, err := b.MergeBase(h)
	if err != nil {
		return nil, fmt.Errorf("merge-base %s %s: %w", base, head, err)
	}
	if len(mbs) == 0 {
		return nil, fmt.Errorf("merge-base %s %s: no common ancestor", base, head)
	}
	return mbs[0], nil
}

// FromCommit lists a commit's tree. Only the listing is read now; blobs are
// read when rendered.
func FromCommit(repo *git.Repository, c *object.Commit, maxSize int64) (*Tree, error) {
	tree, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("read tree of %s: %w", c.Hash, err)
	}
	t := newTree(repo, c.Hash.String(), maxSize)
	t.id = fmt.Sprintf("git-tree:%s:max-file-size=%d", tree.Hash, t.maxSize)
	walker := object.NewTreeWalker(tree, true, nil)
	defer walker.Close()
	for {
		name, e, err := walker.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("walk tree of %s: %w", c.Hash, err)
		}
		if e.Mode == filemode.Dir || e.Mode == filemode.Submodule {
			continue
		}
		t.add(name, entry{hash: e.Hash, mode: e.Mode})
	}
	t.finish()
	return t, nil
}

// FromRev is FromCommit for a revision string.
func FromRev(repo *git.Repository, rev string, maxSize int64) (*Tree, error) {
	c, err := ResolveCommit(repo, rev)
	if err != nil {
		return nil, err
	}
	return FromCommit(repo, c, maxSize)
}

// FromIndex lists the staged index: what `git commit` would record.
func FromIndex(repo *git.Repository, maxSize int64) (*Tree, error) {
	idx, err := repo.Storer.Index()
	if err != nil {
		return nil, fmt.Errorf("read git index: %w", err)
	}
	t := newTree(repo, "index", maxSize)
	for _, e := range idx.Entries {
		if e.Stage != 0 { // unmerged entries: take "ours" only once resolved
			continue
		}
		if e.Mode == filemode.Submodule {
			continue
		}
		t.add(e.Name, entry{hash: e.Hash, mode: e.Mode})
	}
	t.finish()
	return t, nil
}

func newTree(repo *git.Repository, rev string, maxSize int64) *Tree {
	if maxSize <= 0 {
		maxSize = source.DefaultMaxFileSize
	}
	return &Tree{rev: rev, repo: repo, files: map[string]entry{}, dirs: map[string][]string{}, maxSize: maxSize, blobs: map[plumbing.Hash][]byte{}, sizes: map[plumbing.Hash]int64{}}
}

func (t *Tree) add(name string, e entry) {
	t.files[name] = e
	child := name
	for {
		dir := path.Dir(child)
		t.dirs[dir] = append(t.dirs[dir], path.Base(child))
		if dir == "." {
			break
		}
		child = dir
	}
}

func (t *Tree) finish() {
	if _, ok := t.dirs["."]; !ok {
		t.dirs["."] = nil
	}
	for d, names := range t.dirs {
		sort.Strings(names)
		out := names[:0]
		for i, n := range names {
			if i > 0 && names[i-1] == n {
				continue
			}
			out = append(out, n)
		}
		t.dirs[d] = out
	}
}

// Rev implements source.Source.
func (t *Tree) Rev() string { return t.rev }

// ContentID identifies everything the tree can serve: the git tree hash
// and the file size limit. Two trees with one ID read the same, so what
// gate derives from a whole tree can be cached under it. It is "" for the
// index, which has no tree hash.
func (t *Tree) ContentID() string { return t.id }

// Paths lists every file in the tree, sorted; used to compute changed files.
func (t *Tree) Paths() []string {
	out := make([]string, 0, len(t.files))
	for p := range t.files {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Hash returns the blob hash of a file, for content-addressed caching and
// cheap change detection.
func (t *Tree) Hash(name string) (string, bool) {
	e, ok := t.files[name]
	return e.hash.String(), ok
}

func (t *Tree) blob(h plumbing.Hash, name string) ([]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if b, ok := t.blobs[h]; ok {
		return b, nil
	}
	obj, err := t.repo.BlobObject(h)
	if err != nil {
		return nil, fmt.Errorf("read blob %s (%s): %w", h, name, err)
	}
	if obj.Size > t.maxSize {
		return nil, &source.LimitError{Path: name, Size: obj.Size, Limit: t.maxSize}
	}
	r, err := obj.Reader()
	if err != nil {
		return nil, fmt.Errorf("read blob %s (%s): %w", h, name, err)
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, t.maxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read blob %s (%s): %w", h, name, err)
	}
	t.blobs[h] = b
	return b, nil
}

// objectSizer is go-git's filesystem storage: it reads an object's size from
// its header without inflating the object.
type objectSizer interface {
	EncodedObjectSize(plumbing.Hash) (int64, error)
}

// size is the size of a blob, with blob's limit. Stat needs no content:
// scanning every environment's kustomizations stats files of all of them,
// and a one-environment run reads the content of one.
func (t *Tree) size(h plumbing.Hash, name string) (int64, error) {
	t.mu.Lock()
	if b, ok := t.blobs[h]; ok {
		t.mu.Unlock()
		return int64(len(b)), nil
	}
	n, known := t.sizes[h]
	err := errors.New("no object sizes")
	if known {
		err = nil
	} else if s, ok := t.repo.Storer.(objectSizer); ok {
		if n, err = s.EncodedObjectSize(h); err == nil {
			t.sizes[h] = n
		}
	}
	t.mu.Unlock()
	if err != nil {
		// Not where the size can be read (an alternate object store):
		// read the blob, which reports any problem in full.
		b, err := t.blob(h, name)
		return int64(len(b)), err
	}
	if n > t.maxSize {
		return 0, &source.LimitError{Path: name, Size: n, Limit: t.maxSize}
	}
	return n, nil
}

// resolve follows symlinks inside the tree. It returns the final file path,
// or a directory path with isDir set.
func (t *Tree) resolve(name string) (string, bool, error) {
	if r, ok := t.resolved.Load(name); ok {
		r := r.(resolution)
		return r.p, r.isDir, r.err
	}
	p, isDir, err := t.resolveUncached(name)
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		t.resolved.Store(name, resolution{p, isDir, err})
	}
	return p, isDir, err
}

func (t *Tree) resolveUncached(name string) (p string, isDir bool, err error) {
	c, err := source.Clean(name)
	if err != nil {
		return "", false, err
	}
	for hop := 0; hop <= maxSymlinkHops; hop++ {
		// Resolve symlinks in parent components first: each prefix of c
		// ending at a slash or at its end, shortest first.
		restarted := false
		for end := 0; end < len(c) && c != "."; end++ {
			if end = nextSlash(c, end); end < 0 {
				end = len(c)
			}
			prefix := c[:end]
			e, ok := t.files[prefix]
			if !ok {
				continue
			}
			if e.mode != filemode.Symlink {
				if end < len(c) {
					return "", false, fs.ErrNotExist // file used as dir
				}
				return prefix, false, nil
			}
			target, err := t.blob(e.hash, prefix)
			if err != nil {
				return "", false, err
			}
			tgt := string(target)
			if strings.HasPrefix(tgt, "/") {
				return "", false, &source.EscapeError{Path: prefix, Reason: fmt.Sprintf("symlink to %q leaves the repo root", tgt)}
			}
			joined, err := source.Join(path.Dir(prefix), tgt)
			if err != nil {
				return "", false, &source.EscapeError{Path: prefix, Reason: fmt.Sprintf("symlink to %q leaves the repo root or enters .git", tgt)}
			}
			c = path.Join(joined, strings.TrimPrefix(c[end:], "/"))
			restarted = true
			break
		}
		if !restarted {
			if _, ok := t.dirs[c]; ok {
				return c, true, nil
			}
			return "", false, fs.ErrNotExist
		}
	}
	return "", false, &source.EscapeError{Path: name, Reason: "too many levels of symbolic links"}
}

// nextSlash is the index of the first "/" of c at or after from, or -1.
func nextSlash(c string, from int) int {
	if i := strings.IndexByte(c[from:], '/'); i >= 0 {
		return from + i
	}
	return -1
}

// Resolve returns the path name resolves to once symlinks inside the tree
// are followed, so a caller can tell a second name of a directory (a
// symlink back to its parent) from a new directory.
func (t *Tree) Resolve(name string) (string, error) {
	p, _, err := t.resolve(name)
	return p, err
}

// ReadFile implements fs.ReadFileFS.
func (t *Tree) ReadFile(name string) ([]byte, error) {
	p, isDir, err := t.resolve(name)
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	if isDir {
		return nil, &fs.PathError{Op: "read", Path: name, Err: errors.New("is a directory")}
	}
	e := t.files[p]
	b, err := t.blob(e.hash, p)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// Stat implements fs.StatFS.
func (t *Tree) Stat(name string) (fs.FileInfo, error) {
	p, isDir, err := t.resolve(name)
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	if isDir {
		return source.NewFileInfo(path.Base(p), 0, true), nil
	}
	size, err := t.size(t.files[p].hash, p)
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	return source.NewFileInfo(path.Base(p), size, false), nil
}

// ReadDir implements fs.ReadDirFS.
func (t *Tree) ReadDir(name string) ([]fs.DirEntry, error) {
	p, isDir, err := t.resolve(name)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	if !isDir {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	var out []fs.DirEntry
	for _, n := range t.dirs[p] {
		child := path.Join(p, n)
		if _, ok := t.dirs[child]; ok {
			out = append(out, fs.FileInfoToDirEntry(source.NewFileInfo(n, 0, true)))
			continue
		}
		out = append(out, fs.FileInfoToDirEntry(source.NewFileInfo(n, 0, false)))
	}
	return out, nil
}

// Open implements fs.FS.
func (t *Tree) Open(name string) (fs.File, error) {
	fi, err := t.Stat(name)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		ents, err := t.ReadDir(name)
		if err != nil {
			return nil, err
		}
		return source.NewDirFile(name, ents), nil
	}
	b, err := t.ReadFile(name)
	if err != nil {
		return nil, err
	}
	return source.NewFile(name, b), nil
}

var _ source.Source = (*Tree)(nil)

// RemoteURLs lists the URLs of repo's remotes (fetch URLs, in config
// order): what the ops repo is called by the sync tools that pull it (see
// checks/reporef). A repository without remotes yields none.
func RemoteURLs(repo *git.Repository) ([]string, error) {
	remotes, err := repo.Remotes()
	if err != nil {
		return nil, fmt.Errorf("list git remotes: %w", err)
	}
	sort.Slice(remotes, func(i, j int) bool { return remotes[i].Config().Name < remotes[j].Config().Name })
	var out []string
	for _, r := range remotes {
		out = append(out, r.Config().URLs...)
	}
	return out, nil
}
