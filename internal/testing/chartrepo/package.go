// Package chartrepo serves real chart repositories on loopback for tests:
// a Helm HTTP repository (index.yaml plus .tgz) and an OCI registry, with
// charts packaged from directories the way `helm package` lays them out.
package chartrepo

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// Chart is a packaged chart.
type Chart struct {
	Name    string
	Version string
	Archive []byte
}

// epoch is the modification time of every packaged file, so a package's
// digest depends on its content only.
var epoch = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// Package packs the chart directory dir of fsys into a .tgz laid out as
// `helm package` does (<name>/Chart.yaml, ...). version, when set,
// overrides the version in Chart.yaml (a stand-in chart for each version a
// test needs). Files are sorted and dated at a fixed time: the same input
// gives the same digest.
func Package(fsys fs.FS, dir, version string) (Chart, error) {
	cy, err := fs.ReadFile(fsys, path.Join(dir, "Chart.yaml"))
	if err != nil {
		return Chart{}, fmt.Errorf("package %s: %w", dir, err)
	}
	var meta struct {
		Name    string `yaml:"name"`
		Version string `yaml:"version"`
	}
	if err := yaml.Unmarshal(cy, &meta); err != nil {
		return Chart{}, fmt.Errorf("package %s: Chart.yaml: %w", dir, err)
	}
	if version != "" && version != meta.Version {
		cy = []byte(strings.Replace(string(cy), "version: "+meta.Version, "version: "+version, 1))
		meta.Version = version
	}
	files := map[string][]byte{}
	err = fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel := p
		if dir != "." {
			rel = strings.TrimPrefix(p, dir+"/")
		}
		if rel == "Chart.yaml" {
			files[rel] = cy
			return nil
		}
		b, err := fs.ReadFile(fsys, p)
		files[rel] = b
		return err
	})
	if err != nil {
		return Chart{}, fmt.Errorf("package %s: %w", dir, err)
	}
	b, err := Tgz(meta.Name, files)
	return Chart{Name: meta.Name, Version: meta.Version, Archive: b}, err
}

// Tgz packs files (chart-relative paths) under the directory name.
func Tgz(name string, files map[string][]byte) ([]byte, error) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	keys := make([]string, 0, len(files))
	for k := range files {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		h := &tar.Header{Name: name + "/" + k, Mode: 0o644, Size: int64(len(files[k])), ModTime: epoch, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(files[k]); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// MustPackage is Package for tests.
func MustPackage(t testing.TB, dir, version string) Chart {
	t.Helper()
	c, err := Package(os.DirFS(dir), ".", version)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// MustTgz is Tgz for tests.
func MustTgz(t testing.TB, name string, files map[string]string) []byte {
	t.Helper()
	m := map[string][]byte{}
	for k, v := range files {
		m[k] = []byte(v)
	}
	b, err := Tgz(name, m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
