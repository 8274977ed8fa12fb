package render

import (
	"io/fs"
	"path"
	"sort"

	"github.com/gate-ops/gate/checks/source"
)

// overlaySrc serves a few virtual files over a Source: the kustomization
// kustomize-controller generates or edits in a Flux Kustomization's path.
// Everything else is read from the tree as it is.
type overlaySrc struct {
	source.Source
	files map[string][]byte
}

func (o *overlaySrc) ReadFile(name string) ([]byte, error) {
	if b, ok := o.files[path.Clean(name)]; ok {
		return append([]byte(nil), b...), nil
	}
	return o.Source.ReadFile(name)
}

func (o *overlaySrc) Stat(name string) (fs.FileInfo, error) {
	if b, ok := o.files[path.Clean(name)]; ok {
		return source.NewFileInfo(path.Base(name), int64(len(b)), false), nil
	}
	return o.Source.Stat(name)
}

func (o *overlaySrc) Open(name string) (fs.File, error) {
	if b, ok := o.files[path.Clean(name)]; ok {
		return source.NewFile(path.Base(name), b), nil
	}
	return o.Source.Open(name)
}

func (o *overlaySrc) ReadDir(name string) ([]fs.DirEntry, error) {
	ents, err := o.Source.ReadDir(name)
	if err != nil {
		return nil, err
	}
	dir := path.Clean(name)
	have := map[string]bool{}
	for _, e := range ents {
		have[e.Name()] = true
	}
	for p, b := range o.files {
		if path.Dir(p) == dir && !have[path.Base(p)] {
			ents = append(ents, fs.FileInfoToDirEntry(source.NewFileInfo(path.Base(p), int64(len(b)), false)))
		}
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
	return ents, nil
}
