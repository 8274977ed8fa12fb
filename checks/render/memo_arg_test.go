package render

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/source"
)

// TestNoContextValues keeps the memo (and anything else) out of
// context.Value: what a render shares with the others of its RenderAll
// is an argument (renderWith, renderKustomize, renderFlux, argoConfig),
// so a reader sees where it comes from. It parses every non-test file
// under checks/ and refuses context.WithValue, the only way to put a
// value in a context, and ctx.Value(...) calls.
func TestNoContextValues(t *testing.T) {
	fset := token.NewFileSet()
	n := 0
	err := filepath.WalkDir("..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "testdata" {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		n++
		for _, bad := range contextValues(fset, f) {
			t.Errorf("%s: passes a value through a context; make it an argument", bad)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 100 {
		t.Fatalf("parsed %d files under checks/: the walk is not reaching the packages", n)
	}
}

// contextValues returns the positions in f of context.WithValue (under
// whatever name f imports "context") and of X.Value(k) calls where X is
// a context by its name (ctx, w.ctx, req.Context()).
func contextValues(fset *token.FileSet, f *ast.File) []token.Position {
	ctxPkg := ""
	for _, im := range f.Imports {
		if p, _ := strconv.Unquote(im.Path.Value); p == "context" {
			ctxPkg = "context"
			if im.Name != nil {
				ctxPkg = im.Name.Name
			}
		}
	}
	var out []token.Position
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		if id, ok := sel.X.(*ast.Ident); ok && ctxPkg != "" && id.Name == ctxPkg && sel.Sel.Name == "WithValue" {
			out = append(out, fset.Position(call.Pos()))
		}
		if sel.Sel.Name == "Value" && len(call.Args) == 1 && namesContext(sel.X) {
			out = append(out, fset.Position(call.Pos()))
		}
		return true
	})
	return out
}

func namesContext(x ast.Expr) bool {
	switch x := x.(type) {
	case *ast.Ident:
		return strings.Contains(strings.ToLower(x.Name), "ctx")
	case *ast.SelectorExpr:
		return strings.Contains(strings.ToLower(x.Sel.Name), "ctx")
	case *ast.CallExpr:
		sel, ok := x.Fun.(*ast.SelectorExpr)
		return ok && sel.Sel.Name == "Context"
	}
	return false
}

// TestRenderAllPassesItsMemo: the memo RenderAll makes reaches every
// kind of environment that shares through it (kustomize, Flux, Argo CD),
// so each builds its shared subtrees there, usable. (That sharing renders
// the same as alone is TestSharingAndConfinementRenderTheSameCorpus's.)
func TestRenderAllPassesItsMemo(t *testing.T) {
	for name, src := range map[string]*source.Mem{
		"kustomize": memoRepo(nil),
		"flux":      fluxCatalogRepo(3, 2),
		"argo":      argoCatalogRepo(3, 2),
	} {
		t.Run(name, func(t *testing.T) {
			cfg, _, err := config.Load(src, "")
			if err != nil {
				t.Fatal(err)
			}
			envs, finds := Discover(src, cfg)
			if len(envs) < 2 || len(finds) > 0 {
				t.Fatalf("%d environments, findings %v", len(envs), finds)
			}
			r := New(Options{})
			m := r.sharing(src, envs)
			for _, res := range r.renderAll(context.Background(), m, src, envs) {
				if len(res.Findings) > 0 {
					t.Errorf("%s: %v", res.Env.Name, res.Findings)
				}
			}
			if len(m.subs) == 0 {
				t.Fatal("no subtree was built in RenderAll's memo")
			}
			for dir, st := range m.subs {
				if !st.ok {
					t.Errorf("subtree %s not usable", dir)
				}
			}
		})
	}
}
