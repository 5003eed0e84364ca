package restore

import (
	"context"
	"errors"
	"github.com/opsteam/ops/backup/mysql/guard"
	"github.com/opsteam/ops/backup/mysql/sqltext"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestReplaceBuildsUnderATemporaryName: under --replace a target that
// exists and holds objects is written under <dst>__ops_new_<id> (every
// CREATE DATABASE and USE of the stream), never under its own name; an
// empty or missing target keeps its name; a system database, or a
// non-empty one without Replace, is refused. Fails when the alias writes
// into the original (as restores did before: drop, then restore in place).
func TestReplaceBuildsUnderATemporaryName(t *testing.T) {
	dbs := map[string]int64{"shop": 3, "empty": 0}
	lookup := func(name string) (bool, int64, error) {
		n, ok := dbs[name]
		return ok, n, nil
	}
	for _, mapped := range []bool{true, false} {
		tg := newTargets(nil, true)
		tg.lookup = lookup
		rp := newReplacer(tg)
		m := map[string]string{"src": "shop", "e": "empty", "n": "new"}
		names := map[string]string{"src": "src", "e": "e", "n": "n"}
		if !mapped {
			m, names = nil, map[string]string{"src": "shop", "e": "empty", "n": "new"}
		}
		rn, err := newRenamer(m)
		if err != nil {
			t.Fatal(err)
		}
		rn.alias = rp.alias(context.Background())
		want := map[string]string{"src": "shop__ops_new_" + rp.id, "e": "empty", "n": "new"}
		for _, k := range []string{"src", "e", "n"} {
			for _, stmt := range []string{"CREATE DATABASE /*!32312 IF NOT EXISTS*/ " + sqltext.QuoteIdent(names[k]) + " /*!40100 DEFAULT CHARACTER SET utf8mb4 */", "USE " + sqltext.QuoteIdent(names[k])} {
				got, keep, err := rn.rewrite(stmt, sqltext.LexState{})
				if err != nil || !keep {
					t.Fatalf("%s: %v %v", stmt, keep, err)
				}
				ref, _ := databaseRef(got, sqltext.LexState{})
				if ref.name != want[k] {
					t.Errorf("mapped=%v: %s became %s: written under %q, want %q", mapped, stmt, got, ref.name, want[k])
				}
				if rn.target() != want[k] {
					t.Errorf("mapped=%v: target() = %q, want %q", mapped, rn.target(), want[k])
				}
			}
		}
		if r := rp.replacements(); len(r) != 1 || r[0].dst != "shop" || r[0].tmp != want["src"] || r[0].hold != "shop__ops_old_"+rp.id {
			t.Errorf("replacements: %+v", r)
		}
		if got := strings.Join(rn.targets, ","); got != "shop,empty,new" {
			t.Errorf("reported targets %q, want the real names", got)
		}
	}
	tg := newTargets(nil, false)
	tg.lookup = lookup
	if _, err := newReplacer(tg).alias(context.Background())("shop"); !errors.Is(err, ErrTargetExists) {
		t.Errorf("without Replace: %v, want ErrTargetExists", err)
	}
	tg.replace = true
	if _, err := newReplacer(tg).alias(context.Background())("mysql"); !errors.Is(err, guard.ErrRefused) {
		t.Errorf("mysql: %v, want ErrRefused", err)
	}
	dbs["shop__ops_new_x"] = 0
	rp := newReplacer(tg)
	rp.id = "x"
	if _, err := rp.alias(context.Background())("shop"); !errors.Is(err, guard.ErrRefused) {
		t.Errorf("temporary name taken: %v, want ErrRefused", err)
	}
}

// TestReplaceName: the temporary and holding names fit MariaDB's 64
// characters (not bytes), keep a whole character, and differ.
func TestReplaceName(t *testing.T) {
	for _, dst := range []string{"shop", strings.Repeat("a", 64), strings.Repeat("é", 60), "x" + strings.Repeat("€", 50)} {
		n, o := replaceName(dst, "new", "0123abcd"), replaceName(dst, "old", "0123abcd")
		for _, s := range []string{n, o} {
			if utf8.RuneCountInString(s) > 64 || !utf8.ValidString(s) {
				t.Errorf("%q: %q (%d characters)", dst, s, utf8.RuneCountInString(s))
			}
		}
		if n == o || !strings.HasSuffix(n, "__ops_new_0123abcd") || !strings.HasSuffix(o, "__ops_old_0123abcd") {
			t.Errorf("%q: %q %q", dst, n, o)
		}
	}
}
