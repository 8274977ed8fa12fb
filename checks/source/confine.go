package source

import (
	"errors"
	"fmt"
	"io/fs"
)

// Allower says which probes a confined render may make (see Confine).
type Allower interface {
	// Allows reports whether op (a Probe operation) of the clean
	// repo-relative path p is inside the confinement.
	Allows(op, p string) bool
}

// ConfineError is the answer to every probe outside a confinement. It
// names the path and the environment only, never what is there: whether
// the path exists, is a file or a directory does not show, so what a
// confined render sees is a function of the confined paths alone.
type ConfineError struct {
	Path string
	Env  string
}

func (e *ConfineError) Error() string {
	return fmt.Sprintf("%s: outside the files environment %s may read; gate confines renders to the paths the environment's kustomizations, charts and sync objects name (its own directory, the directories and files they reference, their symlink targets): reference it from there", e.Path, e.Env)
}

// Is makes a refused path read as a missing one to libraries that test
// for fs.ErrNotExist.
func (e *ConfineError) Is(target error) bool { return target == fs.ErrNotExist }

// Confined is a Source that answers only the probes its Allower allows;
// every other probe gets the same *ConfineError whether or not the path
// exists. A render given a Confined source is a function of the allowed
// paths' contents: gate's change selection proves an environment
// untouched from the confinement alone (checks/render closure.go).
type Confined struct {
	src   Source
	allow Allower
	env   string
}

// Confine returns src confined to what allow allows, for environment env
// (named in refusals).
func Confine(src Source, env string, allow Allower) *Confined {
	return &Confined{src: src, allow: allow, env: env}
}

// Underlying implements Wrapper.
func (c *Confined) Underlying() Source { return c.src }

func (c *Confined) refuse(op, name string) error {
	cl, err := Clean(name)
	if err != nil {
		return nil // the wrapped source refuses it on its own
	}
	return &fs.PathError{Op: op, Path: name, Err: &ConfineError{Path: cl, Env: c.env}}
}

// check returns the refusal of a probe outside the confinement, or nil.
// Where an allowed name leads through symlinks is allowed too: the
// Allower must guarantee it (a closure adds every symlink target it meets,
// TestClosureCoversProbesCorpus checks both ends), as the check costs no
// call to the wrapped source, so a confined render asks its source only
// what it probes.
func (c *Confined) check(op, name string) error {
	cl, err := Clean(name)
	if err != nil {
		return nil // refused by the wrapped source with its own error
	}
	if !c.allow.Allows(op, cl) {
		return c.refuse(opName(op), name)
	}
	return nil
}

func opName(op string) string {
	switch op {
	case ProbeFile:
		return "read"
	case ProbeDir:
		return "readdir"
	case ProbeResolve:
		return "resolve"
	}
	return "stat"
}

// Rev implements Source.
func (c *Confined) Rev() string { return c.src.Rev() }

// ReadFile implements fs.ReadFileFS.
func (c *Confined) ReadFile(name string) ([]byte, error) {
	if err := c.check(ProbeFile, name); err != nil {
		return nil, err
	}
	return c.src.ReadFile(name)
}

// Stat implements fs.StatFS.
func (c *Confined) Stat(name string) (fs.FileInfo, error) {
	if err := c.check(ProbeStat, name); err != nil {
		return nil, err
	}
	return c.src.Stat(name)
}

// ReadDir implements fs.ReadDirFS.
func (c *Confined) ReadDir(name string) ([]fs.DirEntry, error) {
	if err := c.check(ProbeDir, name); err != nil {
		return nil, err
	}
	return c.src.ReadDir(name)
}

// Open implements fs.FS: a file needs its content allowed, a directory
// its listing.
func (c *Confined) Open(name string) (fs.File, error) {
	if err := c.check(ProbeStat, name); err != nil {
		return nil, err
	}
	f, err := c.src.Open(name)
	if err != nil {
		return f, err
	}
	op := ProbeFile
	if fi, serr := f.Stat(); serr == nil && fi.IsDir() {
		op = ProbeDir
	}
	if err := c.check(op, name); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Resolve follows symlinks when the wrapped source can.
func (c *Confined) Resolve(name string) (string, error) {
	res, ok := c.src.(interface{ Resolve(string) (string, error) })
	if !ok {
		return "", errors.ErrUnsupported
	}
	if err := c.check(ProbeResolve, name); err != nil {
		return "", err
	}
	return res.Resolve(name)
}

// Hash implements Hasher.
func (c *Confined) Hash(name string) (string, bool) {
	h, ok := c.src.(Hasher)
	if !ok || c.check(ProbeFile, name) != nil {
		return "", false
	}
	return h.Hash(name)
}

// Spec implements Reopener: an isolated worker confines its render again.
func (c *Confined) Spec() (Spec, bool) {
	ro, ok := c.src.(Reopener)
	if !ok {
		return Spec{}, false
	}
	return ro.Spec()
}

// ConfinementOf returns the Confined source src is or wraps (through
// Recorders and Wrappers), or nil.
func ConfinementOf(src Source) *Confined {
	for src != nil {
		switch s := src.(type) {
		case *Confined:
			return s
		case *Recorder:
			src = s.src
		case Wrapper:
			src = s.Underlying()
		default:
			return nil
		}
	}
	return nil
}

// AllowsAll reports whether every probe of ps is inside src's
// confinement (true when src is not confined): a result shared between
// renders (a memoised build) is only reused by a render whose
// confinement allows everything it probed.
func AllowsAll(src Source, ps []Probe) bool {
	c := ConfinementOf(src)
	if c == nil {
		return true
	}
	for _, p := range ps {
		if c.check(p.Op, p.Path) != nil {
			return false
		}
	}
	return true
}

var _ Source = (*Confined)(nil)
