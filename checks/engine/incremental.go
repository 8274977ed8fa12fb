package engine

import (
	"context"
	"errors"
	"fmt"
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
// tree). Files present on one side only are changed, whether or not
// they can be read (a dangling symlink, a file over the size limit or
// unreadable added in a work tree: neither side hashes it, and a render
// reading it would not read what the base's did). A work tree that
// can (source.Dir) is told what it is against a base with a content ID:
// the differences and their hashes (NoteDiff).
func ChangedFiles(base, head source.Source) ([]string, error) {
	a, err := listFiles(base)
	if err != nil {
		return nil, err
	}
	b, err := listFiles(head)
	if err != nil {
		return nil, err
	}
	const onBase, onHead = 1, 2
	all := map[string]uint8{}
	for _, p := range a {
		all[p] |= onBase
	}
	for _, p := range b {
		all[p] |= onHead
	}
	// Not nil when nothing changed: an empty change is known, and reaches
	// no environment (nil would mean "unknown: check everything").
	out := []string{}
	heads := map[string]string{}
	whole := true // every file of head hashed
	for p, sides := range all {
		inHead := sides&onHead != 0
		ha, errA := source.FileHash(base, p)
		hb, errB := source.FileHash(head, p)
		if inHead && errB != nil {
			whole = false
		}
		if sides != onBase|onHead || (errA == nil) != (errB == nil) || ha != hb {
			out = append(out, p)
			if inHead {
				heads[p] = hb
			}
		}
	}
	sort.Strings(out)
	if whole {
		noteDiff(base, head, out, heads)
	}
	return out, nil
}

// noteDiff tells head (a work tree that can be told) what it is against
// base: each changed path with its hash at head, or absent.
func noteDiff(base, head source.Source, changed []string, heads map[string]string) {
	n, ok := head.(interface{ NoteDiff(base, state string) })
	if !ok {
		return
	}
	ider, ok := base.(interface{ ContentID() string })
	if !ok || ider.ContentID() == "" {
		return
	}
	var st strings.Builder
	for _, p := range changed {
		h, ok := heads[p]
		if !ok {
			h = "absent"
		}
		fmt.Fprintf(&st, "%q %s\n", p, h)
	}
	n.NoteDiff(ider.ContentID(), st.String())
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

// affectedEnvs decides which environments a change touches, and why.
//
// An environment is untouched when no changed file reaches its closure at
// the base or at the head (render.Closure): its renders are confined to
// the closure, so the head renders exactly as the base, whatever way of
// reading a library has, without rendering either. A finer second proof
// is kept where the render cache has a record of the environment's base
// render: the same closure at both sides and every probe of that record
// answered at the head as at the base. gate.yaml and the stages' inputs
// touch every environment; an environment the base lacks is touched.
func affectedEnvs(ctx context.Context, req *Request, envs []checks.Env, changed []string) map[string][]string {
	out := map[string][]string{}
	global := globalFiles(req)
	var globals []string
	for _, c := range changed {
		if global(c) {
			globals = append(globals, c)
		}
	}
	if len(globals) > 0 {
		for _, e := range envs {
			out[e.Name] = globals
		}
		return out
	}
	if len(changed) == 0 {
		return out
	}
	r := render.New(req.Render)
	if req.Base == nil {
		// A list of changed files and no base (--changed-files): the
		// head's closures, which the base's equal when nothing changed
		// reaches them.
		for i, c := range r.Closures(req.Head, envs) {
			if why := closureReasons(changed, c); len(why) > 0 {
				out[envs[i].Name] = why
			}
		}
		return out
	}
	var onBase []checks.Env
	for _, e := range envs {
		if _, err := fs.Stat(req.Base, e.Path); err != nil {
			why := closureReasons(changed, r.Closures(req.Head, []checks.Env{e})[0])
			if len(why) == 0 {
				why = addedEnvReasons(e, changed)
			}
			out[e.Name] = why
			continue
		}
		onBase = append(onBase, e)
	}
	// The head's closure is only needed where the base's is reached: when
	// no changed file reaches the base's, every answer its computation got
	// is the same at the head (it reads only files in it, tries only named
	// paths, lists only its directories), so the head's is the same.
	var rest []checks.Env
	var restBase []*render.Closure
	for i, c := range r.Closures(req.Base, onBase) {
		if closureTouched(changed, c) {
			rest = append(rest, onBase[i])
			restBase = append(restBase, c)
		}
	}
	same := make([]bool, len(rest))
	for i, hc := range r.ClosuresOfChange(req.Base, req.Head, rest) {
		out[rest[i].Name] = closureReasons(changed, restBase[i], hc)
		same[i] = restBase[i].Digest() == hc.Digest()
	}
	probeUntouched(ctx, req, r, rest, same, changed, out)
	return out
}

func closureTouched(changed []string, c *render.Closure) bool {
	return len(c.TouchedBy(changed)) > 0
}

// closureReasons are the changed files that reach any of cls.
func closureReasons(changed []string, cls ...*render.Closure) []string {
	reach := map[string]bool{}
	for _, cl := range cls {
		for _, c := range cl.TouchedBy(changed) {
			reach[c] = true
		}
	}
	var why []string
	for _, c := range changed {
		if reach[c] {
			why = append(why, c)
		}
	}
	return why
}

// probeUntouched is the second proof: an environment whose closure is the
// same at both sides, with a cached record of its base render that the
// head answers probe for probe, renders the same (render.Record). Only
// records already in the cache are used: nothing is rendered for it.
func probeUntouched(ctx context.Context, req *Request, r *render.Renderer, envs []checks.Env, same []bool, changed []string, out map[string][]string) {
	if req.Render.Cache == nil || len(envs) == 0 || ctx.Err() != nil {
		return
	}
	var cmp *probeCompare
	for i, rec := range r.CachedRecords(req.Base, envs) {
		if rec == nil || !same[i] {
			continue
		}
		if cmp == nil {
			cmp = newProbeCompare(req.Base, req.Head, changed, req.Render.Cache)
		}
		if len(cmp.touched(*rec)) == 0 {
			delete(out, envs[i].Name)
		}
	}
}

// addedEnvReasons are the changed files under an environment the base
// does not have (or its path, when none is).
func addedEnvReasons(e checks.Env, changed []string) []string {
	var why []string
	for _, c := range changed {
		if e.Path == "." || c == e.Path || strings.HasPrefix(c, e.Path+"/") {
			why = append(why, c)
		}
	}
	if len(why) == 0 {
		why = []string{e.Path}
	}
	return why
}

// probeCompare answers probes at the base and head of a change.
type probeCompare struct {
	base, head source.Source
	changed    []string
	cache      *render.Cache
	// all is set when a changed path is or passes through a symlink: a
	// probe's answer may then change with no changed path near it, so
	// every probe is asked again.
	all bool
}

func newProbeCompare(base, head source.Source, changed []string, c *render.Cache) *probeCompare {
	if c == nil {
		c = &render.Cache{} // answers memoised for this comparison
	}
	return &probeCompare{base: base, head: head, changed: changed, cache: c, all: !noSymlinks(changed, base, head)}
}

// touched returns the changed paths that change an answer of rec (the
// probed paths themselves when none is near), or nil when the head
// answers every probe as the base did.
func (pc *probeCompare) touched(rec render.Record) []string {
	why := map[string]bool{}
	for i, p := range rec.Probes {
		near := pc.near(p.Path)
		if len(near) == 0 && !pc.all {
			if rp := pc.resolved(p.Path); rp != p.Path {
				near = pc.near(rp)
			}
		}
		if len(near) == 0 && !pc.all {
			continue
		}
		if i < len(rec.Answers) && pc.cache.Answer(pc.head, p) == rec.Answers[i] {
			continue
		}
		if len(near) == 0 {
			near = []string{p.Path}
		}
		for _, c := range near {
			why[c] = true
		}
	}
	if len(why) == 0 {
		return nil
	}
	out := make([]string, 0, len(why))
	for c := range why {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// near lists the changed paths that are p, lie under p or are above it.
func (pc *probeCompare) near(p string) []string {
	var out []string
	for _, c := range pc.changed {
		if c == p || p == "." || strings.HasPrefix(c, p+"/") || strings.HasPrefix(p, c+"/") {
			out = append(out, c)
		}
	}
	return out
}

// resolved is where p leads at the base once symlinks are followed: an
// unchanged symlink to a changed file changes what p reads.
func (pc *probeCompare) resolved(p string) string {
	res, ok := pc.base.(resolver)
	if !ok {
		return p
	}
	// A git tree's Resolve fails where nothing is there to lead anywhere
	// (no Stat first: it reads a blob's size for every probe of every
	// record); a work tree's answers a missing name with a guess, so only
	// an existing one is resolved there.
	if _, tree := pc.base.(lister); !tree {
		if _, err := pc.base.Stat(p); err != nil {
			return p
		}
	}
	rp, err := res.Resolve(p)
	if err != nil {
		return p
	}
	return rp
}

// resolver is implemented by sources that follow symlinks inside the repo.
type resolver interface {
	Resolve(name string) (string, error)
}

// noSymlinks reports whether every changed path names itself on both
// sides: no symlink at it or above it. A changed symlink changes what a
// path means, so a probe far from every changed path can get another
// answer (probeCompare.all).
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
