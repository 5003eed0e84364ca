package mysql

import (
	"go/ast"
	"go/parser"
	gotoken "go/token"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// Only the lexer scans SQL: a loop that switches on or compares bytes
// with a quote ('\”, '"' or '`') is a scanner of SQL text of its own,
// and readers that do not agree with the lexer are how a restore
// misreads a statement. Such loops may live in lexer.go, in split.go (the
// Splitter: a byte scanner for speed, checked against the lexer by
// FuzzSplitterAgreesWithLexer), and in the files below, each for the
// reason given.
var quoteLoopsAllowed = map[string]string{
	"quote.go":        "writes literals (escapes a value's bytes); reads no SQL",
	"replaytext.go":   "models the mysql client reading mariadb-binlog's output (the client's reading, not the server's)",
	"sqltext.go":      "hasClientComment models the mysql client's comment stripping for the dump",
	"restore_load.go": "converts the rows literalRows accepted into LOAD DATA fields, on the restore's hot path",
}

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
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") || f == "lexer.go" || f == "split.go" {
			continue
		}
		lines := quoteLoops(t, f)
		if len(lines) == 0 {
			continue
		}
		seen[f] = true
		if _, ok := quoteLoopsAllowed[f]; !ok {
			t.Errorf("%s: lines %v scan SQL quotes by hand: use the lexer's tokens (lexer.go)", f, lines)
		}
	}
	for f := range quoteLoopsAllowed {
		if _, err := os.Stat(f); err == nil && !seen[f] {
			t.Errorf("%s no longer scans quotes: take it off quoteLoopsAllowed", f)
		}
	}
}

// TestQuoteLoopsFindsAScanner shows that the check sees a scanner: the
// headLexer this package had (definer.go, before the lexer's tokens)
// switched on quotes in its loop.
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
