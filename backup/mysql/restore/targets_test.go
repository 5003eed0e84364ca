package restore

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
)

// A restore whose CREATE DATABASE failed (no privilege: the backup account
// restoring) created nothing: its rollback drops nothing and says nothing
// about dropping, even when it cannot look the database up. One whose
// CREATE succeeded is dropped, and a failed DROP of it is said; one whose
// CREATE failed but that exists anyway (the statement was killed after the
// server created it) is dropped too.
func TestRollbackSaysNothingOfWhatItDidNotCreate(t *testing.T) {
	exists := map[string]bool{}
	denied := errors.New("Error 1044: Access denied")
	tg := newTargets(nil, false)
	lookupFails := false
	tg.lookup = func(name string) (bool, int64, error) {
		if name == "denied_lookup" && lookupFails {
			return false, 0, denied
		}
		return exists[name], 1, nil
	}
	var ran []string
	tg.run = func(stmt string) error {
		ran = append(ran, stmt)
		if strings.Contains(stmt, "undroppable") {
			return denied
		}
		return nil
	}
	ctx := context.Background()
	for _, n := range []string{"denied_create", "denied_lookup", "made", "undroppable", "killed_after_create"} {
		if err := tg.prepare(ctx, nil, n); err != nil {
			t.Fatal(err)
		}
	}
	lookupFails = true
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))

	tg.rollback(log) // nothing was created yet
	if len(ran) != 0 || logs.Len() != 0 || tg.made() != nil {
		t.Fatalf("nothing created: ran %q, logged %q, made %q", ran, logs.String(), tg.made())
	}

	for _, n := range []string{"made", "undroppable"} {
		tg.confirm(n)
		exists[n] = true
	}
	tg.confirm("never_prepared")
	exists["killed_after_create"] = true
	tg.rollback(log)
	wantRan := []string{"DROP DATABASE IF EXISTS `killed_after_create`", "DROP DATABASE IF EXISTS `undroppable`", "DROP DATABASE IF EXISTS `made`"}
	if !slices.Equal(ran, wantRan) {
		t.Errorf("ran %q, want %q", ran, wantRan)
	}
	out := logs.String()
	if strings.Count(out, "dropping what it created failed too") != 1 || !strings.Contains(out, "database=undroppable") ||
		strings.Contains(out, "denied_") || strings.Count(out, "dropped the database it had created") != 2 {
		t.Errorf("logs:\n%s", out)
	}
	if got := tg.made(); !slices.Equal(got, []string{"made", "undroppable"}) {
		t.Errorf("made %q", got)
	}
}
