package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/source"
)

// benchEnv is one environment of the generated repo.
type benchEnv struct {
	Name, Path string
	Labels     map[string]string
	Helm       bool
	data       string
	// patchDir holds the replicas.yaml patch the second commit changes.
	patchDir string
	// flux is set for a Flux cluster (-layout flux).
	flux *fluxEnv
}

func loadEnvs(repo, valuesDir string) ([]*benchEnv, error) {
	src, err := source.OpenDir(repo, 0)
	if err != nil {
		return nil, err
	}
	cfg, _, err := config.Load(src, "")
	if err != nil {
		return nil, fmt.Errorf("generated gate.yaml: %w", err)
	}
	var envs []*benchEnv
	for _, e := range cfg.Environments {
		if strings.HasPrefix(e.Path, "clusters/") {
			fe, err := loadFluxEnv(repo, e.Path, valuesDir)
			if err != nil {
				return nil, err
			}
			be := &benchEnv{Name: e.Name, Path: e.Path, Labels: e.Labels, Helm: len(fe.releases) > 0, flux: fe}
			for _, p := range fe.paths {
				if strings.HasPrefix(p, "envs/") {
					be.patchDir = p
				}
			}
			envs = append(envs, be)
			continue
		}
		k, err := os.ReadFile(filepath.Join(repo, e.Path, "kustomization.yaml"))
		if err != nil {
			return nil, err
		}
		envs = append(envs, &benchEnv{Name: e.Name, Path: e.Path, patchDir: e.Path, Labels: e.Labels, Helm: strings.Contains(string(k), "platform/cache")})
	}
	if len(envs) == 0 {
		return nil, errors.New("the generated gate.yaml declares no environments")
	}
	return envs, nil
}

// commitRepo makes the repo a git repo with two commits: everything, then a
// change of one environment's replica patch.
func commitRepo(ctx context.Context, repo string, e *benchEnv) error {
	git := func(args ...string) error {
		p, err := runProc(ctx, repo, []string{"GIT_AUTHOR_DATE=2026-01-01T00:00:00Z", "GIT_COMMITTER_DATE=2026-01-01T00:00:00Z"}, nil, "git",
			append([]string{"-c", "user.name=bench", "-c", "user.email=bench@gate.invalid", "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main"}, args...)...)
		if err != nil {
			return err
		}
		if p.code != 0 {
			return fmt.Errorf("git %s: %s", strings.Join(args, " "), tail(p.stderr, 5))
		}
		return nil
	}
	if err := git("init", "-q"); err != nil {
		return err
	}
	if err := git("add", "."); err != nil {
		return err
	}
	if err := git("commit", "-q", "-m", "synthetic ops repo"); err != nil {
		return err
	}
	p := filepath.Join(repo, e.patchDir, "replicas.yaml")
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	b = regexp.MustCompile(`value: \d+`).ReplaceAll(b, []byte("value: 7"))
	if err := os.WriteFile(p, b, 0o644); err != nil {
		return err
	}
	if err := git("commit", "-q", "-am", "scale "+e.Name); err != nil {
		return err
	}
	return nil
}
