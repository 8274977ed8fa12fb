// Command schemagen builds the Kubernetes schema bundles that checks/schema
// embeds. It is run by `go generate ./checks/schema`, never at gate's run
// time: it fetches the k8s.io/kubernetes module of each requested version
// through the Go module proxy (`go mod download`), reads the OpenAPI v2 spec
// the module carries (api/openapi-spec/swagger.json) and writes one gzipped
// JSON bundle per minor version with strict, description-free draft-04
// definitions and the index of the kinds the version serves.
//
// Usage:
//
//	go run ./cmd/schemagen -out checks/schema/bundles v1.34.4 v1.35.4 ...
//	go run ./cmd/schemagen -out DIR -spec swagger.json v1.35.4   (offline, from a file)
package main

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

func main() {
	out := flag.String("out", ".", "directory the bundles are written to")
	spec := flag.String("spec", "", "read the OpenAPI spec from this file instead of the module (one version only)")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: schemagen -out DIR vX.Y.Z...")
		os.Exit(2)
	}
	if *spec != "" && flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "schemagen: -spec takes exactly one version")
		os.Exit(2)
	}
	for _, v := range flag.Args() {
		if err := generate(*out, v, *spec); err != nil {
			fmt.Fprintf(os.Stderr, "schemagen: %s: %v\n", v, err)
			os.Exit(1)
		}
	}
}

func generate(outDir, version, specFile string) error {
	var raw []byte
	var err error
	if specFile != "" {
		raw, err = os.ReadFile(specFile)
	} else {
		raw, err = fetchSpec(version)
	}
	if err != nil {
		return err
	}
	b, err := Convert(raw, version)
	if err != nil {
		return fmt.Errorf("convert spec: %w", err)
	}
	gz, err := Compress(b)
	if err != nil {
		return err
	}
	minor, err := MinorOf(version)
	if err != nil {
		return err
	}
	name := filepath.Join(outDir, "kubernetes-"+minor+".json.gz")
	if err := os.WriteFile(name, gz, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "schemagen: %s: %d bytes raw, %d gzipped -> %s\n", version, len(b), len(gz), name)
	return nil
}

// fetchSpec downloads the k8s.io/kubernetes module through the module proxy
// (the only network gate's build uses) and reads its swagger.json.
func fetchSpec(version string) ([]byte, error) {
	mod := "k8s.io/kubernetes@" + version
	cmd := exec.Command("go", "mod", "download", "-json", mod)
	cmd.Dir = os.TempDir() // outside any module: no go.mod is touched
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	outb, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go mod download %s: %v: %s%s", mod, err, stderr.String(), outb)
	}
	var info struct {
		Zip   string
		Error string
	}
	if err := json.Unmarshal(outb, &info); err != nil {
		return nil, fmt.Errorf("go mod download %s: %w", mod, err)
	}
	if info.Error != "" {
		return nil, fmt.Errorf("go mod download %s: %s", mod, info.Error)
	}
	zr, err := zip.OpenReader(info.Zip)
	if err != nil {
		return nil, fmt.Errorf("open module zip: %w", err)
	}
	defer zr.Close()
	want := mod + "/api/openapi-spec/swagger.json"
	for _, f := range zr.File {
		if f.Name != want {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		return io.ReadAll(io.LimitReader(rc, 64<<20))
	}
	return nil, fmt.Errorf("%s has no %s", info.Zip, strings.TrimPrefix(want, mod+"/"))
}
