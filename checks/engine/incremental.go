package engine

import (
	"errors"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/render"
	"github.com/gate-ops/gate/checks/source"
)

// lister is implemented by sources that can list their files cheaply (git
// trees and the index).
type lister interface {
	Paths() []string
}

// ChangedFiles lists the files that differ between two revisions, compared
// by content address (free for git trees, one hash per file for a work
// tree). Files present on one side only are changed.
func ChangedFiles(base, head source.Source) ([]string, error) {
	a, err := listFiles(base)
	if err != nil {
		return nil, err
	}
	b, err := listFiles(head)
	if err != nil {
		return nil, err
	}
	all := map[string]bool{}
	for _, p := range a {
		all[p] = true
	}
	for _, p := range b {
		all[p] = true
	}
	// Not nil when nothing changed: an empty change is known, and reaches
	// no environment (nil would mean "unknown: check everything").
	out := []string{}
	for p := range all {
		ha, errA := source.FileHash(base, p)
		hb, errB := source.FileHash(head, p)
		if (errA == nil) != (errB == nil) || ha != hb {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out, nil
}

func listFiles(src source.Source) ([]string, error) {
	if l, ok := src.(lister); ok {
		return l.Paths(), nil
	}
	var out []string
	err := fs.WalkDir(src, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if source.IsEscape(err) {
				return nil // a refused symlink is no file of the repo
			}
			var le *source.LimitError
			if errors.As(err, &le) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			if p != "." && d.Name() == ".git" {
				return fs.SkipDir
			}
			return nil
		}
		out = append(out, p)
		return nil
	})
	return out, err
}

// Inputs is implemented by stages whose verdict depends on repo paths
// besides an environment's rendering (the policy stage's directories and
// data, the schema stage's schemas.paths): a change under any of them
// affects every environment. The incremental selection asks the stages;
// it knows no stage's paths itself.
type Inputs interface {
	Inputs() []string
}

// stageInputs are the paths the request's stages declare. A request whose
// stages declare none (no stage built yet, as Untouched is asked before a
// front door builds them, or stages that read only the rendering) is
// judged as gate.yaml configures the built-in stages.
func stageInputs(req *Request) []string {
	var out []string
	declared := false
	for _, st := range req.Stages {
		if in, ok := st.(Inputs); ok {
			declared = true
			out = append(out, in.Inputs()...)
		}
	}
	if !declared {
		out = append(req.Config.PolicyInputs(), req.Config.SchemaInputs()...)
	}
	return out
}

// globalFiles says which changed files affect every environment: gate.yaml
// and the paths the stages read (Inputs).
func globalFiles(req *Request) func(string) bool {
	roots := stageInputs(req)
	file := config.FileName
	if req.Config != nil && req.Config.File != "" {
		file = req.Config.File
	}
	return func(p string) bool {
		if p == file || p == config.FileName {
			return true
		}
		for _, r := range roots {
			r = strings.TrimSuffix(path.Clean(r), "/")
			if p == r || strings.HasPrefix(p, r+"/") {
				return true
			}
		}
		return false
	}
}

// affectedEnvs decides which environments a change touches: those whose
// render (at the base or at the head) reads a changed file, and all of them
// when gate.yaml or the policies change. It returns the reasons per env.
//
// The base is scanned for every environment; the head only for those the
// base scan cannot vouch for. An environment's deps are a function of the
// content of the files they list (unless Partial), so when no changed file
// is among its base deps, and no changed path is or passes through a
// symlink, its head scan would list the same files: scanning the head of
// all fifty environments for a change to one was most of a warm run.
func affectedEnvs(req *Request, envs []checks.Env, changed []string) map[string][]string {
	r := render.New(req.Render)
	deps := map[string]render.Deps{}
	var onBase []checks.Env
	for _, e := range envs {
		if req.Base != nil {
			if _, err := fs.Stat(req.Base, e.Path); err == nil {
				onBase = append(onBase, e)
			}
		}
	}
	bases := map[string]render.Deps{}
	if len(onBase) > 0 {
		for i, b := range r.DepsAll(req.Base, onBase) {
			bases[onBase[i].Name] = b
		}
	}
	plain := req.Base != nil && noSymlinks(changed, req.Base, req.Head)
	var scan []checks.Env
	for _, e := range envs {
		b, ok := bases[e.Name]
		if !ok || !plain || b.Partial || touchesAny(b, changed) {
			scan = append(scan, e)
		}
	}
	heads := map[string]render.Deps{}
	for i, d := range r.DepsAll(req.Head, scan) {
		heads[scan[i].Name] = d
	}
	for _, e := range envs {
		d, ok := heads[e.Name]
		if !ok {
			d = bases[e.Name] // the same files as the head's (see above)
		}
		if b, ok := bases[e.Name]; ok {
			d.Files = append(append([]string(nil), d.Files...), b.Files...)
			d.Dirs = append(append([]string(nil), d.Dirs...), b.Dirs...)
			sort.Strings(d.Files)
		}
		deps[e.Name] = d
	}
	return render.Affected(deps, changed, globalFiles(req))
}

func touchesAny(d render.Deps, changed []string) bool {
	for _, c := range changed {
		if d.Touches(c) {
			return true
		}
	}
	return false
}

// resolver is implemented by sources that follow symlinks inside the repo.
type resolver interface {
	Resolve(name string) (string, error)
}

// noSymlinks reports whether every changed path names itself on both
// sides: no symlink at it or above it. A changed symlink changes what a
// path means without changing the files the scan lists.
func noSymlinks(changed []string, srcs ...source.Source) bool {
	for _, s := range srcs {
		res, ok := s.(resolver)
		if !ok {
			return false
		}
		for _, c := range changed {
			p, err := res.Resolve(c)
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				return false
			}
			if p != c {
				return false
			}
		}
	}
	return true
}
