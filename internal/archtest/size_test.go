package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Limits that keep each room readable: a non-test file of at most
// maxFileLines lines, a non-test function of at most maxFuncLines.
const (
	maxFileLines = 800
	maxFuncLines = 100
	// maxBackupPackageLines bounds a package under backup/ (its non-test
	// lines): a package that grows past it holds more than one concern.
	maxBackupPackageLines = 3000
)

func TestFileAndFunctionSizes(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found at %s: %v", root, err)
	}
	fset := token.NewFileSet()
	files := 0
	packageLines := map[string]int{}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "bin") && p != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			return err
		}
		files++
		rel, _ := filepath.Rel(root, p)
		n := fset.File(f.Pos()).LineCount()
		if n > maxFileLines {
			t.Errorf("%s has %d lines (at most %d)", rel, n, maxFileLines)
		}
		packageLines[filepath.Dir(rel)] += n
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			n := fset.Position(fn.End()).Line - fset.Position(fn.Pos()).Line + 1
			if n > maxFuncLines {
				t.Errorf("%s:%d: func %s has %d lines (at most %d)", rel, fset.Position(fn.Pos()).Line, fn.Name.Name, n, maxFuncLines)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 100 {
		t.Fatalf("only %d Go files found below %s", files, root)
	}
	for dir, n := range packageLines {
		if under(filepath.ToSlash(dir), "backup") && n > maxBackupPackageLines {
			t.Errorf("package %s has %d non-test lines (at most %d under backup/): split it by concern", dir, n, maxBackupPackageLines)
		}
	}
	if packageLines["backup/mysql/restore"] == 0 {
		t.Error("no lines counted for backup/mysql/restore: the package ceiling checks nothing")
	}
}
