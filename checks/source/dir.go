package source

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// Dir is a Source over a directory on disk. It uses os.Root, so symlinks that
// resolve outside the directory fail at the kernel boundary instead of being
// followed.
type Dir struct {
	root    *os.Root
	abs     string
	maxSize int64
	// plainDirs caches the directories known not to be symlinks, so a
	// path's parents are not checked again on every read. Its values are
	// the directories' handles (*os.Root, nil past maxRoots): a name
	// in a known directory is then looked up with one call relative to
	// the handle, where the root would open every directory on the way.
	plainDirs sync.Map
	handles   atomic.Int64
	maxRoots  int64 // dirRootBudget
	// walks counts lookups that went through the root component by
	// component (tests).
	walks atomic.Int64
	// lookups counts the calls made for names (tests).
	lookups atomic.Int64
	// hashes, when set, answers FileHash for files whose stat vouches
	// for their hash (hashindex.go); hashReads counts the files FileHash
	// read (tests).
	hashes    *HashIndex
	hashReads atomic.Int64
	// shape is what the listings made so far saw of the tree (Plain).
	shape struct {
		sync.Mutex
		listed, seen map[string]bool
		odd          bool
	}
	// diff is the tree's difference from a content ID (NoteDiff).
	diff struct {
		sync.Mutex
		base, state string
	}
}

// maxDirRoots bounds the directory handles a Dir keeps open; fewer
// when the process may open few files (a quarter of RLIMIT_NOFILE's soft
// limit, at least minDirRoots). The bench repo has 313 directories: at
// 256, a warm run's lookups in the rest walked from the root.
const (
	maxDirRoots = 1024
	minDirRoots = 256
)

// dirRootBudget is how many directory handles a Dir may keep open.
func dirRootBudget() int64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return minDirRoots
	}
	return budgetFor(rl.Cur)
}

func budgetFor(nofile uint64) int64 {
	return int64(max(minDirRoots, min(maxDirRoots, nofile/4)))
}

// OpenDir opens a work-tree Source rooted at dir. maxSize <= 0 means
// DefaultMaxFileSize.
func OpenDir(dir string, maxSize int64) (*Dir, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open repo %s: %w", dir, err)
	}
	r, err := os.OpenRoot(abs)
	if err != nil {
		return nil, fmt.Errorf("open repo %s: %w", dir, err)
	}
	if maxSize <= 0 {
		maxSize = DefaultMaxFileSize
	}
	return &Dir{root: r, abs: abs, maxSize: maxSize, maxRoots: dirRootBudget()}, nil
}

// Rev implements Source.
func (d *Dir) Rev() string { return "worktree" }

// Root is the absolute directory the source reads.
func (d *Dir) Root() string { return d.abs }

// Close releases the directory handle.
func (d *Dir) Close() error {
	d.plainDirs.Range(func(_, v any) bool {
		if r, ok := v.(*os.Root); ok && r != nil {
			r.Close()
		}
		return true
	})
	return d.root.Close()
}

// at is where a lookup of c starts: the handle of c's directory and c's
// last component when that directory is known plain and has a handle,
// else the root and c.
func (d *Dir) at(c string) (*os.Root, string) {
	d.lookups.Add(1)
	if c == "." {
		return d.root, c
	}
	dir, base := path.Split(c)
	if dir == "" {
		return d.root, c
	}
	dir = dir[:len(dir)-1]
	if v, ok := d.plainDirs.Load(dir); ok {
		if r, _ := v.(*os.Root); r != nil {
			return r, base
		}
	}
	d.walks.Add(1)
	return d.root, c
}

// full names c in an error of a lookup of rc made from c's directory
// handle, as the root's own lookup of c would.
func full(err error, rc, c string) error {
	var pe *fs.PathError
	if rc != c && errors.As(err, &pe) && pe.Path == rc {
		return &fs.PathError{Op: pe.Op, Path: c, Err: pe.Err}
	}
	return err
}

// plain records prefix as a directory that is no symlink, with a handle
// while fewer than maxRoots are open. The handle is opened through
// the root, so it stays inside the repo whatever later becomes of its
// name.
func (d *Dir) plain(prefix string) {
	var v any = (*os.Root)(nil)
	if d.handles.Add(1) <= d.maxRoots {
		r, dr := d.at(prefix)
		if h, err := r.OpenRoot(dr); err == nil {
			v = h
		}
	}
	if _, loaded := d.plainDirs.LoadOrStore(prefix, v); loaded {
		if h, ok := v.(*os.Root); ok && h != nil {
			h.Close()
		}
	}
}

// maxSymlinkHops bounds symlink chains, like the kernel's ELOOP.
const maxSymlinkHops = 40

// clean validates name and resolves symlinks component by component, so a
// link that stays inside the root but points into .git is refused too
// (os.Root alone would follow it).
func (d *Dir) clean(op, name string) (string, error) {
	c, _, err := d.resolve(op, name)
	return c, err
}

// lastLookup is what resolve's Lstat of the resolved path's last
// component found: a file or directory (no symlink, which resolve
// follows), or the error, which a Stat of the same name gets too.
type lastLookup struct {
	fi  fs.FileInfo
	err error
	rc  string
}

// resolve is clean, also returning its lookup of the last component
// when it made one (nil when the name is ".", a known directory, or a
// component before the last was missing).
func (d *Dir) resolve(op, name string) (string, *lastLookup, error) {
	c, err := Clean(name)
	if err != nil {
		return "", nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	hops := 0
	parts := strings.Split(c, "/")
	for i := 0; i < len(parts) && c != "."; i++ {
		prefix := strings.Join(parts[:i+1], "/")
		if _, ok := d.plainDirs.Load(prefix); ok {
			continue
		}
		r, rp := d.at(prefix)
		fi, err := r.Lstat(rp)
		if err != nil {
			if i == len(parts)-1 {
				return c, &lastLookup{err: err, rc: rp}, nil
			}
			return c, nil, nil // let the real operation report it
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			if fi.IsDir() {
				d.plain(prefix)
			}
			if i == len(parts)-1 {
				return c, &lastLookup{fi: fi, rc: rp}, nil
			}
			continue
		}
		hops++
		if hops > maxSymlinkHops {
			return "", nil, &fs.PathError{Op: op, Path: name, Err: &EscapeError{Path: name, Reason: "too many levels of symbolic links"}}
		}
		target, err := r.Readlink(rp)
		if err = full(err, rp, prefix); err != nil {
			return "", nil, &fs.PathError{Op: op, Path: name, Err: err}
		}
		if strings.HasPrefix(target, "/") {
			return "", nil, &fs.PathError{Op: op, Path: name, Err: &EscapeError{Path: prefix, Reason: fmt.Sprintf("symlink to %q leaves the repo root", target)}}
		}
		joined, err := Join(path.Dir(prefix), target)
		if err != nil {
			return "", nil, &fs.PathError{Op: op, Path: name, Err: &EscapeError{Path: prefix, Reason: fmt.Sprintf("symlink to %q leaves the repo root or enters .git", target)}}
		}
		c = path.Join(append([]string{joined}, parts[i+1:]...)...)
		parts = strings.Split(c, "/")
		i = -1
	}
	return c, nil, nil
}

func wrapRootErr(op, name string, err error) error {
	if err == nil {
		return nil
	}
	// os.Root reports escapes as "path escapes from parent".
	if strings.Contains(err.Error(), "escapes from parent") {
		return &fs.PathError{Op: op, Path: name, Err: &EscapeError{Path: name, Reason: "symlink or path resolves outside the repo root"}}
	}
	return err
}

// Resolve returns the repo-relative path name resolves to once symlinks
// inside the repo are followed, so a caller can tell a second name of a
// directory (a symlink back to its parent) from a new directory.
func (d *Dir) Resolve(name string) (string, error) { return d.clean("resolve", name) }

// Open implements fs.FS.
func (d *Dir) Open(name string) (fs.File, error) {
	c, err := d.clean("open", name)
	if err != nil {
		return nil, err
	}
	f, _, err := d.open("open", name, c)
	return f, err
}

// open opens c without blocking and refuses what is neither a regular file
// nor a directory: a plain open of a FIFO waits for a writer, so a named
// pipe in a work tree would hang the run; devices and sockets are no part
// of an ops repo either. The check is on the opened handle, so it costs no
// extra lookup.
func (d *Dir) open(op, name, c string) (*os.File, fs.FileInfo, error) {
	r, rc := d.at(c)
	f, err := r.OpenFile(rc, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err = full(err, rc, c); err != nil {
		return nil, nil, wrapRootErr(op, name, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() && !fi.IsDir() {
		f.Close()
		return nil, nil, &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("not a regular file (%s)", fi.Mode().Type())}
	}
	return f, fi, nil
}

// Stat implements fs.StatFS, following symlinks inside the root.
func (d *Dir) Stat(name string) (fs.FileInfo, error) {
	c, last, err := d.resolve("stat", name)
	if err != nil {
		return nil, err
	}
	if last != nil {
		// The Lstat of a name that is no symlink is its Stat (os.Root
		// reports both as statat).
		return last.fi, wrapRootErr("stat", name, full(last.err, last.rc, c))
	}
	r, rc := d.at(c)
	fi, err := r.Stat(rc)
	return fi, wrapRootErr("stat", name, full(err, rc, c))
}

// ReadFile implements fs.ReadFileFS with the size limit.
func (d *Dir) ReadFile(name string) ([]byte, error) {
	c, err := d.clean("read", name)
	if err != nil {
		return nil, err
	}
	f, fi, err := d.open("read", name, c)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi.IsDir() {
		return nil, &fs.PathError{Op: "read", Path: name, Err: fmt.Errorf("is a directory")}
	}
	if fi.Size() > d.maxSize {
		return nil, &LimitError{Path: c, Size: fi.Size(), Limit: d.maxSize}
	}
	buf := make([]byte, fi.Size())
	n, err := readFull(f, buf)
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}

// ReadDir implements fs.ReadDirFS. Entries are sorted by name; .git is hidden.
func (d *Dir) ReadDir(name string) ([]fs.DirEntry, error) {
	c, err := d.clean("readdir", name)
	if err != nil {
		return nil, err
	}
	r, rc := d.at(c)
	f, err := r.Open(rc)
	if err = full(err, rc, c); err != nil {
		return nil, wrapRootErr("readdir", name, err)
	}
	defer f.Close()
	ents, err := f.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	out := ents[:0]
	for _, e := range ents {
		if e.Name() == ".git" {
			continue
		}
		out = append(out, e)
	}
	sortEntries(out)
	d.noteListing(c, out)
	return out, nil
}

// noteListing records what the listing of c saw, for Plain.
func (d *Dir) noteListing(c string, ents []fs.DirEntry) {
	d.shape.Lock()
	defer d.shape.Unlock()
	if d.shape.listed == nil {
		d.shape.listed, d.shape.seen = map[string]bool{}, map[string]bool{".": true}
	}
	d.shape.listed[c] = true
	if len(ents) == 0 {
		d.shape.odd = true // a directory without a file
	}
	for _, e := range ents {
		switch {
		case e.IsDir():
			d.shape.seen[path.Join(c, e.Name())] = true
		case !e.Type().IsRegular():
			d.shape.odd = true // a symlink, a pipe, a device, a socket
		}
	}
}

// NoteDiff records state, what this tree is against the tree with the
// content ID base: each file that differs, with its content hash here or
// absent (engine.ChangedFiles, which hashed every file of this tree).
func (d *Dir) NoteDiff(base, state string) {
	d.diff.Lock()
	defer d.diff.Unlock()
	d.diff.base, d.diff.state = base, state
}

// Diff returns what NoteDiff recorded against base, when the tree is
// plain: this tree's files and their contents are then base's with the
// differences state names, and a closure computed here is a function of
// (base, state).
func (d *Dir) Diff(base string) (string, bool) {
	d.diff.Lock()
	st, ok := d.diff.state, base != "" && d.diff.base == base
	d.diff.Unlock()
	if !ok || !d.Plain() {
		return "", false
	}
	return st, true
}

// Plain reports whether the listings made so far (a walk of the whole
// tree) reached every directory, and found only regular files and
// directories, none of them without a file beneath it: the tree is then
// its files and their contents, nothing else (no symlink, no empty
// directory, nothing a list of files leaves out). False until every
// directory has been listed.
func (d *Dir) Plain() bool {
	d.shape.Lock()
	defer d.shape.Unlock()
	if d.shape.odd || d.shape.listed == nil {
		return false
	}
	for p := range d.shape.seen {
		if !d.shape.listed[p] {
			return false
		}
	}
	return true
}

// Lstat reports a path without following a final symlink; used to explain
// refused symlinks.
func (d *Dir) Lstat(name string) (fs.FileInfo, error) {
	c, err := Clean(name)
	if err != nil {
		return nil, err
	}
	return d.root.Lstat(c)
}

// Readlink returns a symlink's target as written.
func (d *Dir) Readlink(name string) (string, error) {
	c, err := Clean(name)
	if err != nil {
		return "", err
	}
	return d.root.Readlink(c)
}

var _ Source = (*Dir)(nil)
