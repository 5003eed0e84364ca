package restore

import (
	"context"
	"strings"
	"testing"

	"github.com/opsteam/ops/backup/mysql/guard"
	"github.com/opsteam/ops/backup/mysql/sqltext"
)

// parseScript runs a stream through parseStream (the Splitter and the
// guard, as a restore does, without a server) and returns the statements
// it passed and its error.
func parseScript(t *testing.T, body string) ([]restoreItem, error) {
	t.Helper()
	script := sqltext.SandboxLine + sqltext.OpsDumpHead + "\nCREATE DATABASE `app`;\nUSE `app`;\n" + body
	rn, _ := newRenamer(nil)
	ch := make(chan restoreItem, 1000)
	perr := make(chan error, 1)
	parseStream(context.Background(), &countingReader{r: strings.NewReader(script)}, rn, guard.NewGuard(nil, []string{"other"}), guard.NewDefinerRule(nil), ch, perr)
	var items []restoreItem
	for it := range ch {
		items = append(items, it)
	}
	return items, <-perr
}

// deferKeys moves whole lines into an ALTER TABLE that the guard never
// sees: a line inside a string literal (as the session reads it) must
// not move.
func TestDeferKeysMovesNoPieceOfALiteral(t *testing.T) {
	create := "CREATE TABLE `t` (\n  `id` int NOT NULL,\n  `a` int DEFAULT NULL COMMENT 'x\n  KEY `k` (`a`) , ENGINE=CONNECT\n',\n  PRIMARY KEY (`id`),\n  KEY `a` (`a`)\n) ENGINE=InnoDB"
	if _, _, add, ok := deferKeys(create, sqltext.LexState{}); ok {
		t.Errorf("deferKeys moved %q out of a multi-line literal", add)
	}
	// the same lines under NO_BACKSLASH_ESCAPES: 'x\' ends the literal on its line
	nbe := "CREATE TABLE `t` (\n  `id` int NOT NULL,\n  `a` varchar(9) DEFAULT 'x\\',\n  PRIMARY KEY (`id`),\n  KEY `a` (`a`)\n) ENGINE=InnoDB"
	if _, _, _, ok := deferKeys(nbe, sqltext.LexState{}); ok {
		t.Errorf("deferKeys split a literal that runs over lines with backslash escapes")
	}
	if _, _, add, ok := deferKeys(nbe, sqltext.LexState{NoBackslash: true}); !ok || add != "ADD KEY `a` (`a`)" {
		t.Errorf("deferKeys under NO_BACKSLASH_ESCAPES = %q, %v", add, ok)
	}
}
