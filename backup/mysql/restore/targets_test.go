package restore

import (
	"bytes"
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
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

// A rollback whose connections a network reset broke tries again on a
// fresh one: the database is dropped (TestFaultRestoreResetIT shows it
// through toxiproxy).
func TestRollbackRetriesABrokenConnection(t *testing.T) {
	saved := rollbackWaits
	rollbackWaits = []time.Duration{0, 0, 0, 0}
	defer func() { rollbackWaits = saved }()
	tg := newTargets(nil, false)
	tg.lookup = func(string) (bool, int64, error) { return false, 0, nil }
	if err := tg.prepare(context.Background(), nil, "made"); err != nil {
		t.Fatal(err)
	}
	lookups, drops := 0, 0
	tg.lookup = func(string) (bool, int64, error) {
		if lookups++; lookups < 3 {
			return false, 0, fmt.Errorf("restore: looking up: %w", mysql.ErrInvalidConn)
		}
		return true, 1, nil
	}
	tg.run = func(string) error {
		switch drops++; drops {
		case 1:
			return driver.ErrBadConn
		case 2: // the server restarting
			return &net.OpError{Op: "dial", Net: "unix", Err: syscall.ECONNREFUSED}
		}
		return nil
	}
	tg.confirm("made")
	var logs bytes.Buffer
	tg.rollback(slog.New(slog.NewTextHandler(&logs, nil)))
	if lookups != 3 || drops != 3 || !strings.Contains(logs.String(), "dropped the database it had created") {
		t.Fatalf("lookups %d, drops %d (want 3, 3); logged:\n%s", lookups, drops, logs.String())
	}
	// A connection that stays broken: given up after the waits, said.
	lookups, drops = 0, -100
	tg.run = func(string) error { drops++; return driver.ErrBadConn }
	logs.Reset()
	tg.rollback(slog.New(slog.NewTextHandler(&logs, nil)))
	if drops != -100+len(rollbackWaits) || !strings.Contains(logs.String(), "dropping what it created failed too") {
		t.Fatalf("drops %d; logged:\n%s", drops, logs.String())
	}
}
