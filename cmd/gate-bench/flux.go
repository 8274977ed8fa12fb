package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	sigsyaml "sigs.k8s.io/yaml"
)

// fluxEnv is what the flux-local style baseline runs for one cluster of
// the Flux layout: the cluster directory's own Flux objects, `kustomize
// build` of every Kustomization's path, `helm template` of every
// HelmRelease with its values.
type fluxEnv struct {
	// files are the cluster directory's YAML files (its Flux objects).
	files []string
	// paths are the Kustomizations' spec.path, repo-relative.
	paths    []string
	releases []fluxRelease
}

type fluxRelease struct {
	name, namespace, chart string
	// values is the file holding spec.values (written before the runs,
	// as flux-local extracts them before it calls helm).
	values string
}

// loadFluxEnv reads the Flux objects of a cluster directory. It follows
// what the generated layout uses: Kustomizations of this repository and
// HelmReleases of an in-repo chart; anything else is an error (the
// baseline would not do what gate does).
func loadFluxEnv(repo, dir, valuesDir string) (*fluxEnv, error) {
	ents, err := os.ReadDir(filepath.Join(repo, dir))
	if err != nil {
		return nil, err
	}
	fe := &fluxEnv{}
	for _, ent := range ents {
		if ent.IsDir() || !strings.HasSuffix(ent.Name(), ".yaml") {
			continue
		}
		rel := filepath.Join(dir, ent.Name())
		fe.files = append(fe.files, rel)
		b, err := os.ReadFile(filepath.Join(repo, rel))
		if err != nil {
			return nil, err
		}
		for _, doc := range strings.Split("\n"+string(b), "\n---") {
			var o struct {
				Kind     string `json:"kind"`
				Metadata struct {
					Name      string `json:"name"`
					Namespace string `json:"namespace"`
				} `json:"metadata"`
				Spec struct {
					Path            string         `json:"path"`
					TargetNamespace string         `json:"targetNamespace"`
					ReleaseName     string         `json:"releaseName"`
					Values          map[string]any `json:"values"`
					Chart           struct {
						Spec struct {
							Chart     string `json:"chart"`
							SourceRef struct {
								Kind string `json:"kind"`
							} `json:"sourceRef"`
						} `json:"spec"`
					} `json:"chart"`
				} `json:"spec"`
			}
			if err := sigsyaml.Unmarshal([]byte(doc), &o); err != nil {
				return nil, fmt.Errorf("%s: %w", rel, err)
			}
			switch o.Kind {
			case "":
			case "Kustomization":
				fe.paths = append(fe.paths, filepath.Clean(o.Spec.Path))
			case "HelmRelease":
				if o.Spec.Chart.Spec.SourceRef.Kind != "GitRepository" || o.Spec.TargetNamespace != "" || o.Spec.ReleaseName != "" {
					return nil, fmt.Errorf("%s: HelmRelease %s: the baseline runs in-repo charts with default release names only", rel, o.Metadata.Name)
				}
				vals, err := sigsyaml.Marshal(o.Spec.Values)
				if err != nil {
					return nil, err
				}
				vf := filepath.Join(valuesDir, filepath.Base(dir), o.Metadata.Name+".yaml")
				if err := os.MkdirAll(filepath.Dir(vf), 0o755); err != nil {
					return nil, err
				}
				if err := os.WriteFile(vf, vals, 0o644); err != nil {
					return nil, err
				}
				fe.releases = append(fe.releases, fluxRelease{name: o.Metadata.Name, namespace: o.Metadata.Namespace, chart: filepath.Clean(o.Spec.Chart.Spec.Chart), values: vf})
			default:
				return nil, fmt.Errorf("%s: kind %s: the baseline knows Kustomization and HelmRelease only", rel, o.Kind)
			}
		}
	}
	sort.Strings(fe.paths)
	if len(fe.paths) == 0 {
		return nil, fmt.Errorf("%s: no Flux Kustomization", dir)
	}
	return fe, nil
}

// commands are the baseline's producers for the cluster, in order.
func (fe *fluxEnv) commands(bin, kubeVersion string) [][]string {
	var cmds [][]string
	for _, f := range fe.files {
		cmds = append(cmds, []string{"cat", f}) // one document stream per file
	}
	for _, p := range fe.paths {
		cmds = append(cmds, []string{filepath.Join(bin, "kustomize"), "build", p})
	}
	for _, r := range fe.releases {
		cmds = append(cmds, []string{filepath.Join(bin, "helm"), "template", r.name, r.chart, "--namespace", r.namespace,
			"--values", r.values, "--kube-version", kubeVersion + ".0", "--include-crds", "--skip-tests"})
	}
	return cmds
}

// seqPipeline runs producers one after the other (a script's `{ a; b; c; }`),
// joining their outputs as YAML documents, then feeds the whole stream to
// every consumer at once (`| tee >(kubeconform ...) | conftest ...`). It
// returns the processes in order: producers, then consumers. A producer
// that fails stops the run: its proc is last, with its exit code.
func seqPipeline(ctx context.Context, dir string, producers [][]string, consumers ...[]string) ([]*proc, error) {
	var stream bytes.Buffer
	var procs []*proc
	for _, c := range producers {
		p, err := runProc(ctx, dir, nil, nil, c[0], c[1:]...)
		if err != nil {
			return nil, err
		}
		procs = append(procs, p)
		if p.code != 0 {
			return procs, fmt.Errorf("%s exited %d: %s", strings.Join(c[:min(len(c), 3)], " "), p.code, tail(p.stderr, 5))
		}
		stream.WriteString("---\n")
		stream.Write(p.stdout)
		if n := len(p.stdout); n > 0 && p.stdout[n-1] != '\n' {
			stream.WriteByte('\n')
		}
	}
	cons := make([]*exec.Cmd, len(consumers))
	outs := make([]*bytes.Buffer, len(consumers))
	errs := make([]*bytes.Buffer, len(consumers))
	for i, c := range consumers {
		cmd := exec.CommandContext(ctx, c[0], c[1:]...)
		cmd.Dir = dir
		outs[i], errs[i] = &bytes.Buffer{}, &bytes.Buffer{}
		cmd.Stdout, cmd.Stderr = outs[i], errs[i]
		cmd.Stdin = io.NopCloser(bytes.NewReader(stream.Bytes()))
		if err := cmd.Start(); err != nil {
			for _, s := range cons[:i] {
				_ = s.Wait()
			}
			return nil, fmt.Errorf("start %s: %w", c[0], err)
		}
		cons[i] = cmd
	}
	for i, c := range cons {
		err := c.Wait()
		p := &proc{stdout: outs[i].Bytes(), stderr: errs[i].Bytes()}
		p.rss, p.cpu = usage(c.ProcessState)
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			p.code = ee.ExitCode()
		} else if err != nil {
			return nil, fmt.Errorf("run %s: %w", consumers[i][0], err)
		}
		procs = append(procs, p)
	}
	return procs, nil
}
