package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opsteam/ops/internal/testenv"
)

// TestReplaceKeepsTheOriginal: `ops backup restore --replace` of a backup
// whose stored object was corrupted (one byte of the stored stream changed,
// manifest left alone) or truncated (manifest made to match) exits 3 and
// leaves the database it was to replace as it was, with no temporary or
// holding database behind; the same restore of the good backup replaces it.
func TestReplaceKeepsTheOriginal(t *testing.T) {
	testenv.RequireIT(t)
	leftovers := func(t *testing.T, b *attackBed) int {
		var n int
		if err := b.db.QueryRow("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE ?", strings.ReplaceAll(b.by, "_", `\_`)+`\_\_ops\_%`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	corrupt := map[string]func(t *testing.T, b *attackBed){
		"corrupted object": func(t *testing.T, b *attackBed) {
			obj := filepath.Join(b.dir, b.object)
			raw, err := os.ReadFile(obj)
			if err != nil {
				t.Fatal(err)
			}
			raw[len(raw)/2] ^= 0x20
			if err := os.WriteFile(obj, raw, 0o600); err != nil {
				t.Fatal(err)
			}
		},
		"truncated object": func(t *testing.T, b *attackBed) {
			b.tamper(t, func(s string) string { return s[:strings.LastIndex(s, "-- Dump completed")] })
		},
	}
	for name, damage := range corrupt {
		t.Run(name, func(t *testing.T) {
			b := newAttackBed(t)
			damage(t, b)
			code, out, stderr := runOps(t, "--config", b.cfg, "backup", "restore", "--job", "atk", "--database", b.name+"="+b.by, "--replace")
			if code != 3 {
				t.Fatalf("--replace of a damaged backup: code %d\n%s\n%s", code, out, stderr)
			}
			t.Logf("refused: %s", strings.TrimSpace(stderr))
			b.bystanderIntact(t)
			var n int
			if err := b.db.QueryRow("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?", b.by).Scan(&n); err != nil || n != 1 {
				t.Errorf("the original now has %d tables (%v), want its 1", n, err)
			}
			if n := leftovers(t, b); n != 0 {
				t.Errorf("%d temporary or holding databases left behind", n)
			}
		})
	}
	t.Run("good", func(t *testing.T) {
		b := newAttackBed(t)
		code, out, stderr := runOps(t, "--config", b.cfg, "backup", "restore", "--job", "atk", "--database", b.name+"="+b.by, "--replace")
		if code != 0 {
			t.Fatalf("--replace: code %d\n%s\n%s", code, out, stderr)
		}
		var n int
		if err := b.db.QueryRow("SELECT COUNT(*) FROM " + b.by + ".t").Scan(&n); err != nil || n != 2 {
			t.Fatalf("after --replace: %d rows, %v", n, err)
		}
		if n := leftovers(t, b); n != 0 {
			t.Errorf("%d temporary or holding databases left behind", n)
		}
	})
}
