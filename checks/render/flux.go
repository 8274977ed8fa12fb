package render

// Flux environments: a cluster entry point (clusters/<name>, or a gate.yaml
// environment whose directory holds Flux objects) renders the way Flux's
// controllers would apply it: the directory is built like
// kustomize-controller builds a Kustomization's path, and every Flux
// Kustomization and HelmRelease that build yields is followed in turn. The
// types below are the few fields gate reads; Flux's own modules are not
// imported (they pull in controller-runtime for a handful of structs).

import (
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/source"
)

// KindFlux is an environment rendered as Flux would apply a cluster.
const KindFlux = "flux"

// Flux API groups gate understands.
const (
	fluxKustomizeGroup = "kustomize.toolkit.fluxcd.io"
	fluxHelmGroup      = "helm.toolkit.fluxcd.io"
	fluxSourceGroup    = "source.toolkit.fluxcd.io"
	fluxSourceExtGroup = "source.extensions.fluxcd.io"
)

// fluxSubstituteAnnotation switches post-build substitution off for one object.
const fluxSubstituteAnnotation = "kustomize.toolkit.fluxcd.io/substitute"

type fluxRef struct {
	Kind      string `json:"kind,omitempty"`
	Name      string `json:"name,omitempty"`
	Namespace string `json:"namespace,omitempty"`
}

type fluxMeta struct {
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type fluxSelector struct {
	Group              string `json:"group,omitempty" yaml:"group,omitempty"`
	Version            string `json:"version,omitempty" yaml:"version,omitempty"`
	Kind               string `json:"kind,omitempty" yaml:"kind,omitempty"`
	Name               string `json:"name,omitempty" yaml:"name,omitempty"`
	Namespace          string `json:"namespace,omitempty" yaml:"namespace,omitempty"`
	AnnotationSelector string `json:"annotationSelector,omitempty" yaml:"annotationSelector,omitempty"`
	LabelSelector      string `json:"labelSelector,omitempty" yaml:"labelSelector,omitempty"`
}

type fluxPatch struct {
	Patch  string        `json:"patch,omitempty" yaml:"patch,omitempty"`
	Target *fluxSelector `json:"target,omitempty" yaml:"target,omitempty"`
}

type fluxImage struct {
	Name    string `json:"name" yaml:"name"`
	NewName string `json:"newName,omitempty" yaml:"newName,omitempty"`
	NewTag  string `json:"newTag,omitempty" yaml:"newTag,omitempty"`
	Digest  string `json:"digest,omitempty" yaml:"digest,omitempty"`
}

// fluxKustomization is kustomize.toolkit.fluxcd.io/v1 Kustomization.
type fluxKustomization struct {
	Metadata fluxMeta `json:"metadata"`
	Spec     struct {
		Path            string      `json:"path,omitempty"`
		SourceRef       fluxRef     `json:"sourceRef"`
		DependsOn       []fluxRef   `json:"dependsOn,omitempty"`
		TargetNamespace string      `json:"targetNamespace,omitempty"`
		NamePrefix      string      `json:"namePrefix,omitempty"`
		NameSuffix      string      `json:"nameSuffix,omitempty"`
		Patches         []fluxPatch `json:"patches,omitempty"`
		Images          []fluxImage `json:"images,omitempty"`
		Components      []string    `json:"components,omitempty"`
		Suspend         bool        `json:"suspend,omitempty"`
		CommonMetadata  *struct {
			Labels      map[string]string `json:"labels,omitempty"`
			Annotations map[string]string `json:"annotations,omitempty"`
		} `json:"commonMetadata,omitempty"`
		PostBuild *struct {
			Substitute     map[string]string `json:"substitute,omitempty"`
			SubstituteFrom []struct {
				Kind     string `json:"kind"`
				Name     string `json:"name"`
				Optional bool   `json:"optional,omitempty"`
			} `json:"substituteFrom,omitempty"`
		} `json:"postBuild,omitempty"`
	} `json:"spec"`
}

// fluxHelmRelease is helm.toolkit.fluxcd.io/v2 HelmRelease.
type fluxHelmRelease struct {
	Metadata fluxMeta `json:"metadata"`
	Spec     struct {
		ReleaseName      string `json:"releaseName,omitempty"`
		TargetNamespace  string `json:"targetNamespace,omitempty"`
		StorageNamespace string `json:"storageNamespace,omitempty"`
		Chart            *struct {
			Spec struct {
				Chart       string   `json:"chart"`
				Version     string   `json:"version,omitempty"`
				SourceRef   fluxRef  `json:"sourceRef"`
				ValuesFiles []string `json:"valuesFiles,omitempty"`
			} `json:"spec"`
		} `json:"chart,omitempty"`
		ChartRef   *fluxRef       `json:"chartRef,omitempty"`
		DependsOn  []fluxRef      `json:"dependsOn,omitempty"`
		Values     map[string]any `json:"values,omitempty"`
		ValuesFrom []struct {
			Kind       string `json:"kind"`
			Name       string `json:"name"`
			ValuesKey  string `json:"valuesKey,omitempty"`
			TargetPath string `json:"targetPath,omitempty"`
			Optional   bool   `json:"optional,omitempty"`
		} `json:"valuesFrom,omitempty"`
		PostRenderers []struct {
			Kustomize *struct {
				Patches []fluxPatch `json:"patches,omitempty"`
				Images  []fluxImage `json:"images,omitempty"`
			} `json:"kustomize,omitempty"`
		} `json:"postRenderers,omitempty"`
		Install *struct {
			CRDs string `json:"crds,omitempty"`
		} `json:"install,omitempty"`
		Upgrade *struct {
			CRDs string `json:"crds,omitempty"`
		} `json:"upgrade,omitempty"`
		Suspend bool `json:"suspend,omitempty"`
	} `json:"spec"`
}

// isFluxAPIVersion reports whether apiVersion is one of Flux's groups.
func isFluxAPIVersion(apiVersion string) bool {
	g, _, _ := strings.Cut(apiVersion, "/")
	return strings.HasSuffix(g, ".toolkit.fluxcd.io") || strings.HasSuffix(g, ".extensions.fluxcd.io")
}

// holdsFlux reports whether dir (recursively) holds a Flux object: what
// makes a clusters/<name> directory a Flux cluster entry point rather
// than plain YAML. A flux-system directory (what `flux bootstrap` writes)
// counts even when bootstrap's generated files are not committed.
func holdsFlux(src source.Source, dir string, lim Limits) bool {
	found := false
	_ = fs.WalkDir(src, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || found {
			return fs.SkipDir
		}
		if d.IsDir() {
			if p != dir && strings.HasPrefix(d.Name(), ".") {
				return fs.SkipDir
			}
			if d.Name() == "flux-system" && p != dir {
				found = true
				return fs.SkipAll
			}
			return nil
		}
		if !isYAMLFile(p) {
			return nil
		}
		b, err := src.ReadFile(p)
		if err != nil || !strings.Contains(string(b), "fluxcd.io/") {
			return nil
		}
		docs, err := ParseDocs(p, b, lim)
		if err != nil {
			return nil
		}
		for _, doc := range docs {
			if isFluxAPIVersion(doc.APIVersion) {
				found = true
				return fs.SkipAll
			}
		}
		return nil
	})
	return found
}

// fluxCovered lists the repo directories a Flux repo's own objects point
// at: every Flux Kustomization spec.path, every ArtifactGenerator copy
// source and every clusters/<name> entry point. Discovery drops the
// kustomizations under them as environments of their own: they render as
// part of the cluster that applies them.
func fluxCovered(src source.Source, lim Limits) []string {
	var out []string
	_ = fs.WalkDir(src, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() {
			if p != "." && (strings.HasPrefix(d.Name(), ".") || skipDirs[d.Name()]) {
				return fs.SkipDir
			}
			return nil
		}
		if !isYAMLFile(p) {
			return nil
		}
		b, err := src.ReadFile(p)
		if err != nil || !strings.Contains(string(b), "fluxcd.io/") {
			return nil
		}
		docs, err := ParseDocs(p, b, lim)
		if err != nil {
			return nil
		}
		for _, doc := range docs {
			if !isFluxAPIVersion(doc.APIVersion) {
				continue
			}
			spec := child(doc.Node, "spec")
			switch doc.Kind {
			case "Kustomization":
				if c, err := source.Clean(strings.TrimPrefix(scalar(spec, "path"), "./")); err == nil && c != "." {
					out = append(out, c)
				}
			case "ArtifactGenerator":
				for _, a := range seqItems(child(spec, "artifacts")) {
					for _, cp := range seqItems(child(a, "copy")) {
						if dir := globDir(scalar(cp, "from")); dir != "" {
							out = append(out, dir)
						}
					}
				}
			}
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// globDir is the directory part of an ArtifactGenerator copy source
// ("@repo/apps/base/**" -> "apps/base"), "" when there is none.
func globDir(from string) string {
	_, rest, ok := strings.Cut(from, "/")
	if !ok || !strings.HasPrefix(from, "@") {
		return ""
	}
	var parts []string
	for _, seg := range strings.Split(rest, "/") {
		if strings.ContainsAny(seg, "*?[{") {
			break
		}
		parts = append(parts, seg)
	}
	c, err := source.Clean(path.Join(parts...))
	if err != nil || c == "." {
		return ""
	}
	return c
}

// under reports whether p is dir or inside it.
func under(p, dir string) bool {
	return dir == "." || p == dir || strings.HasPrefix(p, dir+"/")
}

// fluxLayout finds the Flux cluster entry points (clusters/<name>
// directories holding Flux objects) and, when there are any, the
// directories their objects cover.
func fluxLayout(src source.Source, cfg *config.Config) (clusters map[string]bool, covered []string) {
	clusters = map[string]bool{}
	ents, err := src.ReadDir("clusters")
	if err != nil {
		return clusters, nil
	}
	lim := DefaultLimits()
	for _, e := range ents {
		p := path.Join("clusters", e.Name())
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") || excludedBy(cfg, p) {
			continue
		}
		if holdsFlux(src, p, lim) {
			clusters[p] = true
			covered = append(covered, p)
		}
	}
	if len(clusters) == 0 {
		return clusters, nil
	}
	return clusters, append(covered, fluxCovered(src, lim)...)
}

func excludedBy(cfg *config.Config, p string) bool {
	for _, x := range cfg.Discovery.Exclude {
		if under(p, strings.TrimSuffix(x, "/")) {
			return true
		}
	}
	return false
}

// isCovered reports whether p is inside one of dirs.
func isCovered(p string, dirs []string) bool {
	for _, d := range dirs {
		if under(p, d) {
			return true
		}
	}
	return false
}
