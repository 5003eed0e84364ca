package archtest

import (
	"go/ast"
	"go/parser"
	gotoken "go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// Only sqltext scans SQL: a loop that switches on or compares bytes with a
// quote ('\”, '"' or '`') is a scanner of SQL text of its own, and
// readers that do not agree with the lexer are how a restore misreads a
// statement. Under backup/mysql such loops may live in package sqltext
// (the lexer; the Splitter, a byte scanner for speed, checked against the
// lexer by FuzzSplitterAgreesWithLexer; quoting) and in the files below,
// each for the reason given (paths relative to backup/mysql).
var quoteLoopsAllowed = map[string]string{
	"replay/replaytext.go":    "models the mysql client reading mariadb-binlog's output (the client's reading, not the server's)",
	"mysqltest/mysqltest.go":  "a test helper: linesOutsideQuotes is an independent reading of the dump's lines, to check the dump against",
	"dump/ddl.go":             "hasClientComment models the mysql client's comment stripping for the dump",
	"restore/restore_load.go": "converts the rows sqltext.LiteralRows accepted into LOAD DATA fields, on the restore's hot path",
}

// engine is backup/mysql, from this package's directory.
const engine = "../../backup/mysql"

// quoteLoops returns the lines of file (a Go source) where a loop body
// compares a byte with a quote literal or switches on one.
func quoteLoops(t *testing.T, file string) []int {
	t.Helper()
	fset := gotoken.NewFileSet()
	f, err := parser.ParseFile(fset, file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	isQuote := func(e ast.Expr) bool {
		lit, ok := e.(*ast.BasicLit)
		return ok && lit.Kind == gotoken.CHAR && (lit.Value == `'\''` || lit.Value == `'"'` || lit.Value == "'`'")
	}
	var lines []int
	inLoop := func(body ast.Node) {
		ast.Inspect(body, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CaseClause:
				for _, e := range n.List {
					if isQuote(e) {
						lines = append(lines, fset.Position(e.Pos()).Line)
					}
				}
			case *ast.BinaryExpr:
				if (n.Op == gotoken.EQL || n.Op == gotoken.NEQ) && (isQuote(n.X) || isQuote(n.Y)) {
					lines = append(lines, fset.Position(n.Pos()).Line)
				}
			}
			return true
		})
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.ForStmt:
			inLoop(n.Body)
			return false
		case *ast.RangeStmt:
			inLoop(n.Body)
			return false
		}
		return true
	})
	sort.Ints(lines)
	return lines
}

func TestOnlyTheLexerScansSQL(t *testing.T) {
	var files []string
	err := filepath.WalkDir(engine, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "sqltext" {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 20 {
		t.Fatalf("found only %d Go files under %s", len(files), engine)
	}
	seen := map[string]bool{}
	for _, path := range files {
		rel, _ := filepath.Rel(engine, path)
		lines := quoteLoops(t, path)
		if len(lines) == 0 {
			continue
		}
		seen[rel] = true
		if _, ok := quoteLoopsAllowed[rel]; !ok {
			t.Errorf("backup/mysql/%s: lines %v scan SQL quotes by hand: use sqltext's tokens", rel, lines)
		}
	}
	for rel := range quoteLoopsAllowed {
		if !seen[rel] {
			t.Errorf("backup/mysql/%s no longer scans quotes: take it off quoteLoopsAllowed", rel)
		}
	}
}

// TestQuoteLoopsFindsAScanner shows that the check sees a scanner: the
// headLexer the engine had (backup/mysql/definer.go, before the lexer's
// tokens and the split) switched on quotes in its loop.
func TestQuoteLoopsFindsAScanner(t *testing.T) {
	src := "package p\nfunc f(s string) {\n\tfor i := 0; i < len(s); i++ {\n\t\tswitch c := s[i]; {\n\t\tcase c == '`' || c == '\\'':\n\t\t}\n\t}\n}\n"
	dir := t.TempDir()
	file := filepath.Join(dir, "x.go")
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := quoteLoops(t, file); len(got) != 2 || got[0] != 5 {
		t.Errorf("quoteLoops = %v, want two hits on line 5", got)
	}
}
