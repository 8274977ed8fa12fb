package main

import (
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gate-ops/gate/internal/testing/dockertest"
	"github.com/gate-ops/gate/internal/testing/gittest"
)

// TestReleaseImage builds the release image from the Dockerfile
// .goreleaser.yaml names, with the context goreleaser gives it (the binary
// under $TARGETPLATFORM/, the extra files at their repo paths), on a real
// Docker engine, and runs it the way the README tells users to: gate check
// on a mounted repository, with no network, gives the findings and the
// exit code the same binary gives on the host. GATE_BIN is the static
// bin/gate that make build writes (the release build's flags).
func TestReleaseImage(t *testing.T) {
	bin := os.Getenv("GATE_BIN")
	if bin == "" {
		t.Skip("GATE_BIN is not set (make test sets it to bin/gate)")
	}
	if f, err := elf.Open(bin); err != nil {
		t.Fatalf("GATE_BIN: %v", err)
	} else {
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Fatalf("%s is dynamically linked: the scratch image has no libc (build it with CGO_ENABLED=0, as make build does)", bin)
			}
		}
		f.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	e := dockertest.Start(ctx, t)

	var cfg struct {
		Dockers []struct {
			Dockerfile string   `yaml:"dockerfile"`
			ExtraFiles []string `yaml:"extra_files"`
		} `yaml:"dockers_v2"`
	}
	data, err := os.ReadFile("../../.goreleaser.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil || len(cfg.Dockers) != 1 {
		t.Fatalf(".goreleaser.yaml dockers_v2: %v %+v", err, cfg.Dockers)
	}
	d := cfg.Dockers[0]
	buildCtx := t.TempDir()
	platform := "linux/" + runtime.GOARCH
	copyFile(t, bin, filepath.Join(buildCtx, platform, "gate"), 0o755)
	for _, x := range d.ExtraFiles {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(buildCtx, x)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := copyDir(filepath.Join("../..", x), filepath.Join(buildCtx, x)); err != nil {
			t.Fatal(err)
		}
	}
	const image = "gate-release:test"
	if _, err := e.Run(ctx, "build", "-q", "-f", filepath.Join("../..", d.Dockerfile), "--build-arg", "TARGETPLATFORM="+platform, "-t", image, buildCtx); err != nil {
		t.Fatal(err)
	}

	out, err := e.Run(ctx, "image", "inspect", "--format", "{{json .Config}}", image)
	if err != nil {
		t.Fatal(err)
	}
	var conf struct {
		User       string
		Entrypoint []string
	}
	if err := json.Unmarshal([]byte(out), &conf); err != nil {
		t.Fatal(err)
	}
	if conf.User != "65532:65532" || !slices.Equal(conf.Entrypoint, []string{"/usr/local/bin/gate"}) {
		t.Errorf("image config user %q entrypoint %q: want the non-root user running gate", conf.User, conf.Entrypoint)
	}
	if out, err := e.Run(ctx, "run", "--rm", "--network", "none", image, "version"); err != nil || !strings.HasPrefix(out, "gate ") {
		t.Errorf("gate version in the image: %q %v", out, err)
	}
	if _, err := e.Run(ctx, "run", "--rm", "--network", "none", "--entrypoint", "/bin/sh", image, "-c", "true"); err == nil {
		t.Errorf("the image has a shell; the release image is gate alone")
	}

	// A repository with findings, readable by the image's user, as a user's
	// checkout is.
	repo := gittest.New(t)
	repo.CopyTree("../../testdata/overlay-repo")
	repo.Commit("overlay repo")
	for p := repo.Dir; p != os.TempDir() && p != "/"; p = filepath.Dir(p) {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := exec.Command("chmod", "-R", "a+rX", repo.Dir).Run(); err != nil {
		t.Fatal(err)
	}

	hostOut, hostCode := runExit(t, exec.CommandContext(ctx, bin, "--repo", repo.Dir, "check", "-o", "json"))
	// The README's command, with no network: the image must not need one.
	imgOut, imgErr := e.Run(ctx, "run", "--rm", "--network", "none", "-v", repo.Dir+":/repo:ro", image, "--repo", "/repo", "check", "-o", "json")
	imgCode := 0
	var ee *exec.ExitError
	if errors.As(imgErr, &ee) {
		imgCode = ee.ExitCode()
	} else if imgErr != nil {
		t.Fatal(imgErr)
	}
	if hostCode != 1 || imgCode != hostCode {
		t.Fatalf("gate check exit: host %d, image %d; want 1 (the overlay repo has failing findings) from both\nimage: %v", hostCode, imgCode, imgErr)
	}
	hf, imf := findingKeys(t, hostOut), findingKeys(t, imgOut)
	if len(hf) == 0 || !slices.Equal(hf, imf) {
		t.Errorf("findings differ between the host binary and the image:\nhost:  %q\nimage: %q", hf, imf)
	}
}

// runExit runs cmd and returns stdout and the exit code.
func runExit(t *testing.T, cmd *exec.Cmd) (string, int) {
	t.Helper()
	out, err := cmd.Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

// findingKeys lists a JSON report's findings as environment, rule,
// file:line and message, sorted: what a user reads, without timings.
func findingKeys(t *testing.T, out string) []string {
	t.Helper()
	var r struct {
		Environments []struct {
			Findings []struct {
				Env     string `json:"env"`
				RuleID  string `json:"ruleId"`
				Message string `json:"message"`
				Origin  struct {
					File string `json:"file"`
					Line int    `json:"line"`
				} `json:"origin"`
			} `json:"findings"`
		} `json:"environments"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("JSON report: %v\n%s", err, out)
	}
	var keys []string
	for _, e := range r.Environments {
		for _, f := range e.Findings {
			keys = append(keys, fmt.Sprintf("%s | %s | %s:%d | %s", f.Env, f.RuleID, f.Origin.File, f.Origin.Line, f.Message))
		}
	}
	slices.Sort(keys)
	return keys
}

// copyFile copies one file, creating its directory.
func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, mode); err != nil {
		t.Fatal(err)
	}
}
