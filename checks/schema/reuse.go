package schema

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/engine"
)

// verdictFormat names the encoding of a stored schema verdict and is part
// of every key: a change of what a verdict holds or reads bumps it.
const verdictFormat = "gate-schema-verdict/1"

// identity digests the stage's trusted configuration: everything a
// validation reads that is the same for every resource (strictness, the
// missing-schema severity, skip and reject, the JSON schemas of
// schemas.paths). The CRDs are per environment (see crdDigest), the
// Kubernetes version per environment too. Stages with custom bundles get
// a random identity, which no other stage shares.
func (s *Stage) identity(custom bool) []byte {
	if custom {
		b := make([]byte, 32)
		rand.Read(b)
		return b
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00strict=%t\x00missing=%d\x00nodes=%d\x00", verdictFormat, s.strict, s.missing, s.maxNodes)
	for _, set := range []map[string]bool{s.skip, s.reject} {
		keys := sortedSet(set)
		fmt.Fprintf(h, "%d\x00", len(keys))
		for _, k := range keys {
			fmt.Fprintf(h, "%s\x00", strconv.Quote(k))
		}
	}
	keys := make([]string, 0, len(s.jsonSchemas))
	for k := range s.jsonSchemas {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintf(h, "json=%d\x00", len(keys))
	for _, k := range keys {
		fmt.Fprintf(h, "%s\x00", strconv.Quote(k))
		writeEntry(h, s.jsonSchemas[k])
	}
	return h.Sum(nil)
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

type writer interface{ Write([]byte) (int, error) }

// writeEntry digests what validation reads of a CRD version or JSON
// schema: all of it but its origin (the schema by its content hash).
func writeEntry(h writer, e *crdEntry) {
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%t%t%t%t\x00%s\x00%s\x00", strconv.Quote(e.APIVersion), strconv.Quote(e.Kind), strconv.Quote(e.CRD),
		e.Served, e.Storage, e.Deprecated, e.jsonFile, strconv.Quote(e.Warning), e.Hash)
}

// crdDigest digests the CRDs an environment's validations see (any of
// them can decide a custom resource's verdict, and the others' versions
// appear in its messages).
func crdDigest(crds map[string]*crdEntry) []byte {
	keys := make([]string, 0, len(crds))
	for k := range crds {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	fmt.Fprintf(h, "%d\x00", len(keys))
	for _, k := range keys {
		fmt.Fprintf(h, "%s\x00", strconv.Quote(k))
		writeEntry(h, crds[k])
	}
	return h.Sum(nil)
}

// verdictKey is the key of res's verdict in an environment validated
// against v with crds (crdSum); ok is false when res cannot be reused.
func (s *Stage) verdictKey(vs *engine.Verdicts, v *k8sVersion, crdSum []byte, res *checks.Resource) ([32]byte, bool) {
	rd, ok := vs.ResourceDigest(res)
	if !ok {
		return [32]byte{}, false
	}
	return engine.VerdictKey([]byte(verdictFormat), s.id, []byte(v.minor), []byte(v.file), crdSum, rd[:]), true
}

// encodeVerdict encodes a raw verdict; ok is false when the encoding would
// not give the same verdict back (a message that is not valid UTF-8).
func encodeVerdict(raw []rawFinding) ([]byte, bool) {
	if len(raw) == 0 {
		return []byte{}, true
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return nil, false
	}
	back, ok := decodeVerdict(b)
	if !ok || !reflect.DeepEqual(back, raw) {
		return nil, false
	}
	return b, true
}

// decodeVerdict decodes a stored verdict; ok is false for one that does not
// decode whole.
func decodeVerdict(b []byte) ([]rawFinding, bool) {
	if len(b) == 0 {
		return nil, true
	}
	var raw []rawFinding
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, false
	}
	for _, r := range raw {
		if r.Rule == "" || r.Sev < checks.SeverityNotice || r.Sev > checks.SeverityError {
			return nil, false
		}
	}
	return raw, true
}
