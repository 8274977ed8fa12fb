package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// goreleaserConfig is the part of .goreleaser.yaml the release promises.
type goreleaserConfig struct {
	Version int `yaml:"version"`
	Builds  []struct {
		ID      string   `yaml:"id"`
		Main    string   `yaml:"main"`
		Binary  string   `yaml:"binary"`
		Env     []string `yaml:"env"`
		Goos    []string `yaml:"goos"`
		Goarch  []string `yaml:"goarch"`
		Ldflags []string `yaml:"ldflags"`
	} `yaml:"builds"`
	Archives []struct {
		IDs     []string `yaml:"ids"`
		Formats []string `yaml:"formats"`
	} `yaml:"archives"`
	Checksum struct {
		Algorithm string `yaml:"algorithm"`
	} `yaml:"checksum"`
	Sboms []struct {
		Artifacts string   `yaml:"artifacts"`
		Cmd       string   `yaml:"cmd"`
		Args      []string `yaml:"args"`
	} `yaml:"sboms"`
	Dockers []struct {
		IDs        []string `yaml:"ids"`
		Dockerfile string   `yaml:"dockerfile"`
		Images     []string `yaml:"images"`
		Platforms  []string `yaml:"platforms"`
	} `yaml:"dockers_v2"`
}

// TestReleaseConfig: .goreleaser.yaml builds gate for linux and darwin on
// amd64 and arm64 with its version stamped, archives them with checksums
// and an SBOM per binary, and builds a multi-arch image from a Dockerfile
// that copies the binary goreleaser built. With GATE_GORELEASER_BIN (make
// release-snapshot builds it) goreleaser itself checks the file too.
func TestReleaseConfig(t *testing.T) {
	data, err := os.ReadFile("../../.goreleaser.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c goreleaserConfig
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	if c.Version != 2 || len(c.Builds) != 1 {
		t.Fatalf("version %d with %d builds; want goreleaser v2 config with one build", c.Version, len(c.Builds))
	}
	b := c.Builds[0]
	if b.Main != "./cmd/gate" || b.Binary != "gate" || !slices.Contains(b.Env, "CGO_ENABLED=0") {
		t.Errorf("build %+v: want ./cmd/gate as gate, CGO_ENABLED=0", b)
	}
	for _, want := range [][2]string{{"linux", "amd64"}, {"linux", "arm64"}, {"darwin", "amd64"}, {"darwin", "arm64"}} {
		if !slices.Contains(b.Goos, want[0]) || !slices.Contains(b.Goarch, want[1]) {
			t.Errorf("no %s/%s build: goos %v goarch %v", want[0], want[1], b.Goos, b.Goarch)
		}
	}
	_ = version // the variable the ldflags set exists in package main
	if !strings.Contains(strings.Join(b.Ldflags, " "), "-X main.version={{ .Version }}") {
		t.Errorf("ldflags %v do not stamp main.version (gate version would say dev)", b.Ldflags)
	}
	if len(c.Archives) != 1 || !slices.Contains(c.Archives[0].IDs, b.ID) || !slices.Contains(c.Archives[0].Formats, "tar.gz") {
		t.Errorf("archives %+v: want tar.gz of build %q", c.Archives, b.ID)
	}
	if c.Checksum.Algorithm != "sha256" {
		t.Errorf("checksum algorithm %q, want sha256", c.Checksum.Algorithm)
	}
	if len(c.Sboms) != 1 || c.Sboms[0].Artifacts != "binary" || c.Sboms[0].Cmd != "cyclonedx-gomod" {
		t.Errorf("sboms %+v: want one per binary by cyclonedx-gomod", c.Sboms)
	}
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	for _, pin := range []string{`(?m)^GORELEASER_VERSION\s+:= v2\.`, `(?m)^CYCLONEDX_GOMOD_VERSION\s+:= v`, `(?m)^release-snapshot:`} {
		if !regexp.MustCompile(pin).Match(mk) {
			t.Errorf("Makefile lacks %s", pin)
		}
	}
	if len(c.Dockers) != 1 {
		t.Fatalf("dockers_v2 %+v: want one image", c.Dockers)
	}
	d := c.Dockers[0]
	if !slices.Contains(d.Platforms, "linux/amd64") || !slices.Contains(d.Platforms, "linux/arm64") || !slices.Contains(d.IDs, b.ID) || len(d.Images) == 0 {
		t.Errorf("image %+v: want linux/amd64 and linux/arm64 of build %q", d, b.ID)
	}
	df, err := os.ReadFile(filepath.Join("../..", d.Dockerfile))
	if err != nil {
		t.Fatalf("the image's Dockerfile: %v", err)
	}
	if !regexp.MustCompile(`(?m)^COPY \$TARGETPLATFORM/`+regexp.QuoteMeta(b.Binary)+` `).Match(df) || !regexp.MustCompile(`(?m)^ENTRYPOINT \[".*/`+regexp.QuoteMeta(b.Binary)+`"\]`).Match(df) {
		t.Errorf("%s does not copy and run the binary goreleaser builds for the platform:\n%s", d.Dockerfile, df)
	}

	if bin := os.Getenv("GATE_GORELEASER_BIN"); bin != "" {
		cmd := exec.Command(bin, "check")
		cmd.Dir = "../.."
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("goreleaser check: %v\n%s", err, out)
		}
	}
}
