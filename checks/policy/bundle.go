package policy

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/source"
)

// Limits on an OPA bundle: a policy archive is read in full before any
// evaluation, so a hostile or corrupt one must not exhaust memory.
const (
	maxBundleBytes   = 64 << 20 // uncompressed, all files together
	maxBundleEntries = 10_000
)

// IsBundle reports whether a policy path names an OPA bundle archive
// (`opa build` output) rather than a directory.
func IsBundle(p string) bool {
	return strings.HasSuffix(p, ".tar.gz") || strings.HasSuffix(p, ".tgz")
}

// bundleEntry is one regular file of a bundle archive.
type bundleEntry struct {
	name string // inside the bundle
	path string // shown in findings
	data []byte
}

// bundleEntries reads every regular file of an OPA bundle archive within
// the limits; v0 is set when its .manifest says rego_version 0.
func bundleEntries(src source.Source, p, prefix string) (entries []bundleEntry, v0 bool, finds []checks.Finding) {
	where := display(prefix, p)
	b, err := src.ReadFile(p)
	if err != nil {
		return nil, false, []checks.Finding{loadFinding(where, 0, fmt.Sprintf("cannot read policy bundle: %v", err))}
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, false, []checks.Finding{loadFinding(where, 0, fmt.Sprintf("policy bundle is not a gzipped tar archive: %v", err))}
	}
	tr := tar.NewReader(zr)
	var total int64
	for n := 0; ; n++ {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, false, append(finds, loadFinding(where, 0, fmt.Sprintf("policy bundle is corrupt: %v", err)))
		}
		if n >= maxBundleEntries {
			return nil, false, append(finds, loadFinding(where, 0, fmt.Sprintf("policy bundle has more than %d files", maxBundleEntries)))
		}
		if h.Typeflag != tar.TypeReg {
			continue // directories; links are not followed
		}
		if strings.HasPrefix(h.Name, "../") || strings.Contains(h.Name, "/../") || h.Name == ".." {
			finds = append(finds, loadFinding(where, 0, fmt.Sprintf("policy bundle entry %q leaves the bundle and was not read", h.Name)))
			continue
		}
		name := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		total += h.Size
		if h.Size < 0 || total > maxBundleBytes {
			return nil, false, append(finds, loadFinding(where, 0, fmt.Sprintf("policy bundle is larger than %d MiB uncompressed", maxBundleBytes>>20)))
		}
		data, err := io.ReadAll(io.LimitReader(tr, h.Size))
		if err != nil {
			return nil, false, append(finds, loadFinding(where, 0, fmt.Sprintf("policy bundle is corrupt: %v", err)))
		}
		if name == ".manifest" {
			v0 = bytes.Contains(bytes.ReplaceAll(data, []byte(" "), nil), []byte(`"rego_version":0`))
			continue
		}
		entries = append(entries, bundleEntry{name: name, path: where + "/" + name, data: data})
	}
	return entries, v0, finds
}

func isDataFile(name string) bool {
	base := path.Base(name)
	return base == "data.json" || base == "data.yaml" || base == "data.yml"
}

func dataRel(name string) string {
	if rel := path.Dir(name); rel != "." {
		return rel
	}
	return ""
}

// readBundle collects the policies and data of an OPA bundle archive the
// way OPA lays them out: .rego files anywhere, data.json / data.yaml whose
// directory is their place under data, a .manifest (read for its
// rego_version only). Signatures are not verified: the bundle comes from
// the trusted revision like every other policy. Anything gate cannot use
// (wasm, a path leaving the bundle) is a finding, never skipped silently.
func readBundle(set *fileSet, src source.Source, p, prefix string) []checks.Finding {
	entries, v0, finds := bundleEntries(src, p, prefix)
	for _, e := range entries {
		switch {
		case strings.HasSuffix(e.name, "_test.rego"):
			// Tests are for `gate policy test`, not evaluation.
		case strings.HasSuffix(e.name, ".rego"):
			set.user = append(set.user, policyFile{path: e.path, data: e.data, v0: v0})
		case isDataFile(e.name):
			finds = append(finds, addData(set, policyFile{path: e.path, data: e.data}, dataRel(e.name))...)
		case strings.HasSuffix(e.name, ".wasm"):
			finds = append(finds, loadFinding(e.path, 0, "Wasm policies are not supported: build the bundle without --target wasm"))
		case isYAML(e.name) && isGatekeeperYAML(e.data):
			set.gatekeeper = append(set.gatekeeper, policyFile{path: e.path, data: e.data})
		}
	}
	return finds
}
