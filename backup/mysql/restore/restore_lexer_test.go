package restore

import (
	"testing"

	"github.com/opsteam/ops/backup/mysql/sqltext"
)

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
