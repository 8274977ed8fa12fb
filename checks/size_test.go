package checks_test

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// The limits that keep each file about one idea and each function
// readable in one screen (issue 18): no Go file of the repository, tests
// included, over maxFileLines lines, generated code aside; no function of
// gate's engine (non-test code under checks/) over maxFuncLines lines.
const (
	maxFileLines = 600
	maxFuncLines = 80
)

// TestFileSizes: no Go file over maxFileLines lines outside generated code.
func TestFileSizes(t *testing.T) {
	over := map[string]int{}
	walkGo(t, "..", func(rel string, src []byte) {
		if n := bytes.Count(src, []byte("\n")); n > maxFileLines && !generated(rel, src) {
			over[rel] = n
		}
	})
	report(t, "file", over, maxFileLines)
}

// TestFunctionSizes: no function of the non-test code under checks/ over
// maxFuncLines lines (its declaration's first line to its closing brace).
func TestFunctionSizes(t *testing.T) {
	over := map[string]int{}
	fset := token.NewFileSet()
	walkGo(t, ".", func(rel string, src []byte) {
		if strings.HasSuffix(rel, "_test.go") || strings.Contains("/"+rel, "/testdata/") || generated(rel, src) {
			return
		}
		f, err := parser.ParseFile(fset, rel, src, parser.SkipObjectResolution)
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			return
		}
		pkg := "checks/" + filepath.ToSlash(filepath.Dir(rel))
		pkg = strings.TrimSuffix(pkg, "/.")
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok {
				continue
			}
			n := fset.Position(fd.End()).Line - fset.Position(fd.Pos()).Line + 1
			if n > maxFuncLines {
				over[pkg+"."+funcName(fd)] = n
			}
		}
	})
	report(t, "function", over, maxFuncLines)
}

// report fails for each name over the limit, in order.
func report(t *testing.T, what string, over map[string]int, limit int) {
	t.Helper()
	names := make([]string, 0, len(over))
	for name := range over {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Errorf("%s %s has %d lines, over %d: split it along its ideas", what, name, over[name], limit)
	}
}

// walkGo calls fn with every .go file under root (repo-relative to root
// with slashes), skipping hidden directories.
func walkGo(t *testing.T, root string, fn func(rel string, src []byte)) {
	t.Helper()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != root && strings.HasPrefix(d.Name(), ".") {
				return fs.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") {
			return nil
		}
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		fn(filepath.ToSlash(rel), src)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// generated reports whether src carries Go's "Code generated ... DO NOT
// EDIT." line before its package clause.
func generated(name string, src []byte) bool {
	f, err := parser.ParseFile(token.NewFileSet(), name, src, parser.PackageClauseOnly|parser.ParseComments)
	return err == nil && ast.IsGenerated(f)
}

func funcName(fd *ast.FuncDecl) string {
	if fd.Recv == nil || len(fd.Recv.List) == 0 {
		return fd.Name.Name
	}
	t := fd.Recv.List[0].Type
	if s, ok := t.(*ast.StarExpr); ok {
		t = s.X
	}
	if ix, ok := t.(*ast.IndexExpr); ok {
		t = ix.X
	}
	if id, ok := t.(*ast.Ident); ok {
		return id.Name + "." + fd.Name.Name
	}
	return fd.Name.Name
}
