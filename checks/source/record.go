package source

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"sort"
	"strings"
	"sync"
)

// Probe is one question a render asked its Source: the content of a file
// (Op "f": ReadFile, Open of a file, Hash), whether and what a path is
// (Op "s": Stat, Open, Resolve) or which entries a directory has (Op "d":
// ReadDir, Open of a directory). A probe of a path that does not exist is
// recorded like any other: adding the file later changes its answer.
//
// A render is a function of the answers to its probes, so two revisions
// that answer every probe of one render the same way render the same
// (the ninja depfile / ccache direct-mode argument). That is what makes
// gate's change selection and render cache sound.
type Probe struct {
	Op   string `json:"o"`
	Path string `json:"p"`
}

// Probe operations.
const (
	ProbeFile = "f"
	ProbeStat = "s"
	ProbeDir  = "d"
	// ProbeResolve asks where a name leads once symlinks are followed.
	ProbeResolve = "r"
)

// Recorder is a Source that records every probe made through it. Wrap the
// Source a render is given once, at the boundary: every renderer and
// library that reads through it is recorded, so a new way of reading
// cannot escape the record.
type Recorder struct {
	src    Source
	parent *Recorder

	mu     sync.Mutex
	probes map[Probe]struct{}
}

// Record returns a Recorder over src.
func Record(src Source) *Recorder {
	r := &Recorder{src: src, probes: map[Probe]struct{}{}}
	if p, ok := src.(*Recorder); ok {
		// A nested recording (a shared build's own record) also
		// records into the outer one.
		r.parent = p
	}
	return r
}

// Unwrap returns the Source a chain of Recorders and confinements wraps.
func Unwrap(src Source) Source {
	for {
		switch s := src.(type) {
		case *Recorder:
			src = s.src
		case *Confined:
			src = s.src
		default:
			return src
		}
	}
}

func (r *Recorder) add(op, name string) {
	c, err := Clean(name)
	if err != nil {
		return // refused before it reaches a file: not a dependency
	}
	p := Probe{Op: op, Path: c}
	for rec := r; rec != nil; rec = rec.parent {
		rec.mu.Lock()
		rec.probes[p] = struct{}{}
		rec.mu.Unlock()
	}
}

// Probes returns the probes recorded so far, sorted.
func (r *Recorder) Probes() []Probe {
	r.mu.Lock()
	out := make([]Probe, 0, len(r.probes))
	for p := range r.probes {
		out = append(out, p)
	}
	r.mu.Unlock()
	SortProbes(out)
	return out
}

// SortProbes sorts probes by path, then operation.
func SortProbes(ps []Probe) {
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].Path != ps[j].Path {
			return ps[i].Path < ps[j].Path
		}
		return ps[i].Op < ps[j].Op
	})
}

// Rev implements Source.
func (r *Recorder) Rev() string { return r.src.Rev() }

// ReadFile implements fs.ReadFileFS.
func (r *Recorder) ReadFile(name string) ([]byte, error) {
	r.add(ProbeFile, name)
	return r.src.ReadFile(name)
}

// Stat implements fs.StatFS.
func (r *Recorder) Stat(name string) (fs.FileInfo, error) {
	r.add(ProbeStat, name)
	return r.src.Stat(name)
}

// ReadDir implements fs.ReadDirFS.
func (r *Recorder) ReadDir(name string) ([]fs.DirEntry, error) {
	r.add(ProbeDir, name)
	return r.src.ReadDir(name)
}

// Open implements fs.FS. What an open file can tell (its kind, its content
// or entries) is all recorded.
func (r *Recorder) Open(name string) (fs.File, error) {
	r.add(ProbeStat, name)
	f, err := r.src.Open(name)
	if err != nil {
		return f, err
	}
	if fi, serr := f.Stat(); serr == nil && fi.IsDir() {
		r.add(ProbeDir, name)
	} else {
		r.add(ProbeFile, name)
	}
	return f, nil
}

// Resolve follows symlinks when the wrapped source can (see noSymlinks in
// checks/engine); where the name leads is a stat of it.
func (r *Recorder) Resolve(name string) (string, error) {
	res, ok := r.src.(interface{ Resolve(string) (string, error) })
	if !ok {
		return "", errors.ErrUnsupported
	}
	r.add(ProbeResolve, name)
	return res.Resolve(name)
}

// Hash implements Hasher: a content address is the content's answer.
func (r *Recorder) Hash(name string) (string, bool) {
	h, ok := r.src.(Hasher)
	if !ok {
		return "", false
	}
	r.add(ProbeFile, name)
	return h.Hash(name)
}

// Spec implements Reopener for sources another process can open: an
// isolated render records in the worker and sends its probes back.
func (r *Recorder) Spec() (Spec, bool) {
	ro, ok := r.src.(Reopener)
	if !ok {
		return Spec{}, false
	}
	return ro.Spec()
}

// Add records probes made elsewhere on this render's behalf (an isolated
// worker's, or a shared build's the render reuses).
func (r *Recorder) Add(ps []Probe) {
	for _, p := range ps {
		r.add(p.Op, p.Path)
	}
}

// Capture runs fn on a recording of src and returns what fn probed. When
// src is itself a Recorder the probes are recorded there too. Shared
// results (a memo several renders use) keep their probes and Replay them
// into each render that reuses them.
func Capture(src Source, fn func(Source)) []Probe {
	rec := Record(src)
	fn(rec)
	return rec.Probes()
}

// Replay records ps on src when src records (or serves a few files over a
// Source that records).
func Replay(src Source, ps []Probe) {
	if rec := RecorderOf(src); rec != nil {
		rec.Add(ps)
	}
}

// Wrapper is implemented by sources that serve a few files of their own
// over another Source (Flux's generated kustomizations): probes that reach
// the underlying Source are its render's.
type Wrapper interface {
	Underlying() Source
}

// RecorderOf returns the Recorder src is or wraps, or nil.
func RecorderOf(src Source) *Recorder {
	for src != nil {
		if r, ok := src.(*Recorder); ok {
			return r
		}
		w, ok := src.(Wrapper)
		if !ok {
			return nil
		}
		src = w.Underlying()
	}
	return nil
}

// Answer is what src answers to p, as a short string: a content address
// for a file ("absent" when there is none), the kind of a path, a digest
// of a directory's entry names. Symlinks inside the repo are followed, as
// the render followed them. Errors other than absence are answered with
// "error:" and the error's text (a limit or a refused symlink), so a
// changed error is a changed answer.
func Answer(src Source, p Probe) string {
	switch p.Op {
	case ProbeFile:
		name := p.Path
		// Existence first: a name is only resolved once it is there.
		if _, err := src.Stat(name); err != nil {
			return errAnswer(err)
		}
		if res, ok := src.(interface{ Resolve(string) (string, error) }); ok {
			n, err := res.Resolve(name)
			if err != nil {
				return errAnswer(err)
			}
			name = n
		}
		h, err := FileHash(src, name)
		if err != nil {
			return errAnswer(err)
		}
		return h
	case ProbeStat:
		fi, err := src.Stat(p.Path)
		if err != nil {
			return errAnswer(err)
		}
		if fi.IsDir() {
			return "dir"
		}
		return "file"
	case ProbeResolve:
		res, ok := src.(interface{ Resolve(string) (string, error) })
		if !ok {
			return "unsupported"
		}
		if _, err := src.Stat(p.Path); err != nil {
			return errAnswer(err)
		}
		n, err := res.Resolve(p.Path)
		if err != nil {
			return errAnswer(err)
		}
		return "->" + n
	case ProbeDir:
		ents, err := src.ReadDir(p.Path)
		if err != nil {
			return errAnswer(err)
		}
		h := sha256.New()
		for _, e := range ents {
			kind := "f"
			if e.IsDir() {
				kind = "d"
			}
			h.Write([]byte(kind + e.Name() + "\x00"))
		}
		return hex.EncodeToString(h.Sum(nil))[:32]
	}
	return "unknown-op:" + p.Op
}

func errAnswer(err error) string {
	if errors.Is(err, fs.ErrNotExist) {
		return "absent"
	}
	msg := err.Error()
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	return "error:" + msg
}
