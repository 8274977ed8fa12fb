package render

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
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
