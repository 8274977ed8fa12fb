package policy

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"path"
	"reflect"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/engine"
)

// verdictFormat names the encoding of a stored policy verdict and is part
// of every key: a change of what a verdict holds or reads bumps it.
const verdictFormat = "gate-policy-verdict/1"

// identity digests what every evaluation of the stage reads besides its
// input and data.gate: the policy files (built-in, library, the repo's and
// --policy directories', Gatekeeper YAML, data files) by content, the
// data document they make, gate.yaml and the default Kubernetes version.
// When it cannot be computed the identity is random: no verdict is shared
// with another stage.
func identity(set *fileSet, cfg *config.Config, opts Options) []byte {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00", verdictFormat)
	groups := [][]policyFile{set.builtin, set.lib, set.user, set.gatekeeper, set.dataFiles}
	for _, g := range groups {
		fmt.Fprintf(h, "%d\x00", len(g))
		for _, f := range g {
			sum := sha256.Sum256(f.data)
			fmt.Fprintf(h, "%q\x00%x\x00", f.path, sum)
		}
	}
	c, errC := json.Marshal(cfg)
	d, errD := json.Marshal(set.data)
	if errC != nil || errD != nil {
		b := make([]byte, 32)
		rand.Read(b)
		return b
	}
	fmt.Fprintf(h, "%d\x00%s\x00%d\x00%s\x00%q\x00", len(c), c, len(d), d, opts.DefaultKubernetesVersion)
	return h.Sum(nil)
}

// gateDigest digests data.gate of an environment: every query prepared for
// the environment holds it, so it is part of every verdict's key.
func gateDigest(gate map[string]any) string {
	b, err := json.Marshal(gate)
	if err != nil {
		b = make([]byte, 32)
		rand.Read(b)
	}
	sum := sha256.Sum256(b)
	return string(sum[:])
}

// unitKey is the key of unit u's verdict over resource i (i >= 0) or over
// the whole environment (i < 0, whose input is every resource in order,
// with the file each came from). ok is false when the verdict is not
// reused: no store, or a resource the digest cannot cover.
func (ev *evaluation) unitKey(u *unit, i int) ([32]byte, bool) {
	vs := ev.vs
	if vs == nil {
		return [32]byte{}, false
	}
	var in []byte
	if i >= 0 {
		rd, ok := vs.ResourceDigest(ev.res.Resources[i])
		if !ok {
			return [32]byte{}, false
		}
		in = rd[:]
	} else {
		ev.envOnce.Do(func() { ev.envSum, ev.envOK = envDigest(vs, ev.res.Resources) })
		if !ev.envOK {
			return [32]byte{}, false
		}
		in = ev.envSum
	}
	return engine.VerdictKey([]byte(verdictFormat), ev.s.id, []byte(u.name), []byte(u.scope), []byte(u.query), []byte(ev.dataSum), in), true
}

// envDigest digests every resource of an environment, in order.
func envDigest(vs *engine.Verdicts, rs []*checks.Resource) ([]byte, bool) {
	h := sha256.New()
	fmt.Fprintf(h, "%d\x00", len(rs))
	for _, r := range rs {
		rd, ok := vs.ResourceDigest(r)
		if !ok {
			return nil, false
		}
		h.Write(rd[:])
	}
	return h.Sum(nil), true
}

// encodeBindings encodes a unit's result; ok is false when decoding would
// not give the same result back.
func encodeBindings(rs resultSet) ([]byte, bool) {
	b, err := json.Marshal(rs)
	if err != nil {
		return nil, false
	}
	back, ok := decodeBindings(b)
	if !ok || !reflect.DeepEqual(back, rs) {
		return nil, false
	}
	return b, true
}

// decodeBindings decodes a stored result (numbers as json.Number, as OPA
// gives them); ok is false for one that does not decode whole.
func decodeBindings(b []byte) (resultSet, bool) {
	if len(b) == 0 || string(b) == "null" {
		return nil, true
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var rs resultSet
	if err := dec.Decode(&rs); err != nil || dec.More() {
		return nil, false
	}
	return rs, true
}

// cached evaluates u over input through the run's verdicts: a stored
// result under the same key is decoded instead of evaluated, and a result
// evaluated is stored. Errors are never stored.
func (ev *evaluation) cached(u *unit, i int, input ast.Value) (resultSet, error) {
	key, ok := ev.unitKey(u, i)
	if ok {
		if b, hit := ev.vs.Get(key); hit {
			if rs, good := decodeBindings(b); good {
				return rs, nil
			}
		}
	}
	rs, err := ev.eval(u, input)
	if err == nil && ok {
		if silent(u, rs) {
			// Most verdicts: nothing to report, stored as nothing.
			ev.vs.Put(key, []byte{})
		} else if b, good := encodeBindings(rs); good {
			ev.vs.Put(key, b)
		}
	}
	return rs, err
}

// silent reports whether a unit's result makes no finding: every rule's
// value is undefined, empty, false or null (decodeAll then adds nothing,
// whatever the exceptions say).
func silent(u *unit, rs resultSet) bool {
	for _, b := range u.binds {
		if b.exception {
			continue
		}
		w, _ := rs[b.v].([]any)
		if len(w) == 0 {
			continue
		}
		switch x := w[0].(type) {
		case []any:
			if len(x) == 0 {
				continue
			}
		case bool:
			if !x {
				continue
			}
		case nil:
			continue
		}
		return false
	}
	return true
}

// fromCache gives resource i (i >= 0) or the environment (i < 0) the
// verdicts of units from the run's store when it holds every one of them,
// without converting or evaluating anything; false leaves all of them to
// evaluation (also when a unit is dead or Gatekeeper constraints need the
// converted object).
func (ev *evaluation) fromCache(units []*unit, i int) bool {
	if ev.vs == nil || len(units) == 0 || (i >= 0 && len(ev.gk.constraints) > 0) {
		return false
	}
	rss := make([]resultSet, len(units))
	for j, u := range units {
		ev.mu.Lock()
		dead := ev.dead[u.name]
		ev.mu.Unlock()
		if dead != nil {
			return false
		}
		key, ok := ev.unitKey(u, i)
		if !ok {
			return false
		}
		b, hit := ev.vs.Get(key)
		if !hit {
			return false
		}
		rs, good := decodeBindings(b)
		if !good {
			return false
		}
		rss[j] = rs
	}
	for j, u := range units {
		ev.decodeAll(u, rss[j], i)
	}
	return true
}

// checkKeys lists the keys of every verdict of this evaluation that can
// be reused, in order: each resource-scoped unit over each resource, then
// each environment-scoped unit. They name the check's pack on disk.
func (ev *evaluation) checkKeys(resUnits, envUnits []*unit) [][32]byte {
	if ev.vs == nil {
		return nil
	}
	keys := ev.s.repoFileKeys(ev.res.Files)
	for i := range ev.res.Resources {
		for _, u := range resUnits {
			if k, ok := ev.unitKey(u, i); ok {
				keys = append(keys, k)
			}
		}
	}
	for _, u := range envUnits {
		if k, ok := ev.unitKey(u, -1); ok {
			keys = append(keys, k)
		}
	}
	return keys
}

// gkFileFormat names what the store says of a trusted file's content: ""
// (it holds no Gatekeeper document: not read again), anything else (read it).
const gkFileFormat = "gate-gatekeeper-file/1"

// blobHasher is a source that knows the content hash of a file (a git
// tree); Resolve follows symlinks.
type blobHasher interface {
	Resolve(name string) (string, error)
	Hash(name string) (string, bool)
}

// repoFileKey is the key of what the store knows of the trusted content
// of file, found by its blob hash; false for a source that cannot tell,
// and for a file reached through a symlink (whose tree entry is not the
// content ReadFile reads).
func (s *Stage) repoFileKey(file string) ([32]byte, bool) {
	h, ok := s.trusted.(blobHasher)
	if !ok {
		return [32]byte{}, false
	}
	if p, err := h.Resolve(file); err != nil || p != path.Clean(file) {
		return [32]byte{}, false
	}
	sum, ok := h.Hash(file)
	if !ok {
		return [32]byte{}, false
	}
	return engine.VerdictKey([]byte(gkFileFormat), []byte(sum)), true
}

// repoFileKeys are the keys of the YAML files an environment rendered that
// envGatekeeper looks into, in order.
func (s *Stage) repoFileKeys(files []string) [][32]byte {
	var keys [][32]byte
	for _, f := range files {
		if !isYAML(f) {
			continue
		}
		if k, ok := s.repoFileKey(f); ok {
			keys = append(keys, k)
		}
	}
	return keys
}

// readRepoDocsVia is readRepoDocs that skips a file the store says holds
// no Gatekeeper document, and tells the store what it read.
func (s *Stage) readRepoDocsVia(file string, vs *engine.Verdicts) *gkDocs {
	key, keyed := s.repoFileKey(file)
	if !keyed || vs == nil {
		return s.readRepoDocs(file)
	}
	if b, ok := vs.Get(key); ok && len(b) == 0 {
		return nil
	}
	b, err := s.trusted.ReadFile(file)
	if err == nil && !isGatekeeperYAML(b) {
		vs.Put(key, []byte{})
		return nil
	}
	vs.Put(key, []byte("1"))
	return s.docsOf(file, b, err)
}
