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

// globalFiles says which changed files affect every environment: gate.yaml
// and everything that decides the verdict (policy and schema directories).
func globalFiles(cfg *config.Config) func(string) bool {
	roots := []string{"policy", "policies"}
	file := config.FileName
	if cfg != nil {
		roots = append(roots, cfg.Policies.Paths...)
		roots = append(roots, cfg.Schemas.Paths...)
		roots = append(roots, cfg.Policies.Data...)
		if cfg.File != "" {
			file = cfg.File
		}
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
func affectedEnvs(req *Request, envs []checks.Env, changed []string) map[string][]string {
	r := render.New(req.Render)
	deps := map[string]render.Deps{}
	heads := r.DepsAll(req.Head, envs)
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
	for i, e := range envs {
		d := heads[i]
		if req.Base != nil {
			if b, ok := bases[e.Name]; ok {
				d.Files = append(d.Files, b.Files...)
				d.Dirs = append(d.Dirs, b.Dirs...)
				sort.Strings(d.Files)
			}
		}
		deps[e.Name] = d
	}
	return render.Affected(deps, changed, globalFiles(req.Config))
}
