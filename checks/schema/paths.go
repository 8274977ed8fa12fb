package schema

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/render"
	"github.com/gate-ops/gate/checks/source"
)

// loadSchemaPaths reads the CustomResourceDefinitions in the directories
// gate.yaml lists under schemas.paths. Anything that cannot be used is a
// finding on its file and line, never silently ignored.
//
// Besides CRDs, a directory may hold kubeconform-style JSON schema files
// (KIND_VERSION.json under a directory named after the API group); they
// come back in jsonSchemas, keyed by jsonSchemaKey.
func loadSchemaPaths(fsys fs.FS, dirs []string, maxNodes int) ([]*crdEntry, map[string]*crdEntry, []checks.Finding) {
	var out []*crdEntry
	jsonSchemas := map[string]*crdEntry{}
	var finds []checks.Finding
	bad := func(file string, line int, msg string) {
		finds = append(finds, checks.Finding{Check: CheckName, RuleID: RuleInvalidCRD, Severity: checks.SeverityError, Message: msg, Origin: checks.Origin{File: file, Line: line}, HelpURL: helpCRD})
	}
	for _, d := range dirs {
		dir, err := source.Clean(d)
		if err != nil {
			bad("gate.yaml", 0, fmt.Sprintf("schemas.paths %q: %v", d, err))
			continue
		}
		err = fs.WalkDir(fsys, dir, func(p string, de fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if de.IsDir() {
				if p != dir && strings.HasPrefix(de.Name(), ".") {
					return fs.SkipDir
				}
				return nil
			}
			switch strings.ToLower(path.Ext(p)) {
			case ".yaml", ".yml", ".json":
			default:
				return nil
			}
			b, err := fs.ReadFile(fsys, p)
			if err != nil {
				bad(p, 0, fmt.Sprintf("schemas.paths: %v", err))
				return nil
			}
			if strings.EqualFold(path.Ext(p), ".json") {
				if doc, ok := isJSONSchemaDoc(b); ok {
					key, e, err := jsonSchemaFile(p, b, doc, maxNodes)
					if err != nil {
						bad(p, 1, err.Error())
						return nil
					}
					if prev := jsonSchemas[key]; prev != nil {
						bad(p, 1, fmt.Sprintf("JSON schema for %s %s is also in %s; this one was not used", e.APIVersion, e.Kind, prev.origin.File))
						return nil
					}
					jsonSchemas[key] = e
					return nil
				}
			}
			docs, err := render.ParseDocs(p, b, render.DefaultLimits())
			if err != nil {
				var pe *render.ParseError
				if errors.As(err, &pe) {
					bad(p, pe.Line, "schemas.paths: "+pe.Msg)
				} else {
					bad(p, 0, fmt.Sprintf("schemas.paths: %v", err))
				}
				return nil
			}
			out = append(out, crdEntries(p, docs, maxNodes, bad)...)
			return nil
		})
		if err != nil {
			bad(dir, 0, fmt.Sprintf("schemas.paths %q: %v", d, err))
		}
	}
	return out, jsonSchemas, finds
}

// crdEntries are the CRD versions of one schemas.paths file's documents;
// any other document is a finding (bad).
func crdEntries(p string, docs []render.Doc, maxNodes int, bad func(file string, line int, msg string)) []*crdEntry {
	var out []*crdEntry
	for _, doc := range docs {
		if doc.Kind == "" && doc.APIVersion == "" {
			if doc.Node != nil && len(doc.Node.Content) > 0 {
				bad(p, doc.Line, "schemas.paths holds a document that is neither a CustomResourceDefinition nor a JSON schema; it was not used")
			}
			continue // empty document
		}
		if !isCRD(doc.APIVersion, doc.Kind) {
			bad(p, doc.Line, fmt.Sprintf("schemas.paths holds %s %s %q: only CustomResourceDefinitions are read from schema directories", doc.APIVersion, doc.Kind, doc.Name))
			continue
		}
		var obj map[string]any
		if err := doc.Node.Decode(&obj); err != nil {
			bad(p, doc.Line, fmt.Sprintf("schemas.paths: %v", err))
			continue
		}
		vs, err := crdVersions(obj, maxNodes)
		if err != nil {
			bad(p, doc.Line, err.Error())
			continue
		}
		for _, cv := range vs {
			out = append(out, &crdEntry{crdVersion: cv, origin: checks.Origin{File: p, Line: doc.Line}})
		}
	}
	return out
}
