package restore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/opsteam/ops/backup/mysql/conn"
	"github.com/opsteam/ops/backup/mysql/guard"
	"github.com/opsteam/ops/backup/mysql/sqltext"
)

// targets tracks the databases a restore writes: it refuses system
// databases and existing non-empty ones (unless replace), and remembers
// what it created so that a failed restore can take it back.
type targets struct {
	db        *sql.DB
	replace   bool
	seen      map[string]bool
	created   []string          // in order: each whose CREATE DATABASE was about to run
	confirmed map[string]bool   // whose CREATE DATABASE succeeded
	emptied   map[string]string // existed empty: its CREATE DATABASE, to put back
	// lookup and run, when set (unit tests), replace objects' queries and
	// rollback's statements.
	lookup func(name string) (exists bool, n int64, err error)
	run    func(stmt string) error
}

func newTargets(db *sql.DB, replace bool) *targets {
	return &targets{db: db, replace: replace, seen: map[string]bool{}, confirmed: map[string]bool{}, emptied: map[string]string{}}
}

// confirm records that name's CREATE DATABASE succeeded.
func (t *targets) confirm(name string) {
	if t.seen[name] {
		t.confirmed[name] = true
	}
}

// made is what the restore created (or emptied and created again), in
// order: the databases whose CREATE DATABASE succeeded.
func (t *targets) made() []string {
	var l []string
	for _, n := range t.created {
		if t.confirmed[n] {
			l = append(l, n)
		}
	}
	return l
}

func (t *targets) exec(ctx context.Context, stmt string) error {
	if t.run != nil {
		return t.run(stmt)
	}
	_, err := t.db.ExecContext(ctx, stmt)
	return err
}

// objects counts what a database holds; exists is false when there is no
// such database.
func (t *targets) objects(ctx context.Context, name string) (exists bool, n int64, err error) {
	if t.lookup != nil {
		return t.lookup(name)
	}
	var c int64
	if err := t.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", name).Scan(&c); err != nil {
		return false, 0, fmt.Errorf("restore: looking up database %s: %w", sqltext.QuoteIdent(name), err)
	}
	if c == 0 {
		return false, 0, nil
	}
	err = t.db.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?) +
		(SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?) +
		(SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?)`, name, name, name).Scan(&n)
	if err != nil {
		return true, 0, fmt.Errorf("restore: counting the objects of database %s: %w", sqltext.QuoteIdent(name), err)
	}
	return true, n, nil
}

// check refuses a target that the restore may not write (no side effect).
func (t *targets) check(ctx context.Context, name string) error {
	_, _, err := t.state(ctx, name)
	return err
}

// state refuses a system database, and an existing non-empty one unless
// replace; otherwise it says whether the database exists and how many
// objects it holds.
func (t *targets) state(ctx context.Context, name string) (exists bool, n int64, err error) {
	if conn.SystemDatabases[strings.ToLower(name)] {
		return false, 0, fmt.Errorf("restore: %s is a system database: refusing to restore into it: %w", sqltext.QuoteIdent(name), guard.ErrRefused)
	}
	exists, n, err = t.objects(ctx, name)
	if err != nil {
		return false, 0, err
	}
	if exists && n > 0 && !t.replace {
		return exists, n, fmt.Errorf("restore: database %s exists and holds %d objects: refusing to restore over it (--replace builds a new copy and swaps it in): %w", sqltext.QuoteIdent(name), n, ErrTargetExists)
	}
	return exists, n, nil
}

// prepare runs before the CREATE DATABASE of a target: it refuses what
// check refuses and any non-empty database (--replace builds under a
// temporary name instead, see replace.go), and records the database as
// created by this restore.
func (t *targets) prepare(ctx context.Context, dbConn *sql.Conn, name string) error {
	if t.seen[name] {
		return nil
	}
	exists, n, err := t.state(ctx, name)
	if err != nil {
		return err
	}
	switch {
	case exists && n > 0:
		// Under --replace the renamer writes such a target under a
		// temporary name (replace.go): this one was not, and is never
		// written into.
		return fmt.Errorf("restore: database %s exists and holds %d objects: refusing to write into it: %w", sqltext.QuoteIdent(name), n, ErrTargetExists)
	case exists:
		var db, create string
		if err := dbConn.QueryRowContext(ctx, "SHOW CREATE DATABASE "+sqltext.QuoteIdent(name)).Scan(&db, &create); err != nil {
			return fmt.Errorf("restore: reading database %s: %w", sqltext.QuoteIdent(name), err)
		}
		t.emptied[name] = create
	}
	t.seen[name] = true
	t.created = append(t.created, name)
	return nil
}

// rollback drops every database this restore created; one that existed
// empty is created again as it was. A database that does not exist (its
// CREATE DATABASE never ran: it waited for a lock until it was killed), or
// that existed empty and still is, is left alone: a DROP DATABASE would
// wait for the same lock (up to lock_wait_timeout). One whose CREATE
// DATABASE failed (no privilege, killed) is dropped only if it is seen to
// exist: a restore that created nothing says nothing about dropping.
func (t *targets) rollback(log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i := len(t.created) - 1; i >= 0; i-- {
		name := t.created[i]
		var exists bool
		var n int64
		err := againOnBrokenConn(ctx, func() (err error) { exists, n, err = t.objects(ctx, name); return err })
		if err == nil && (!exists || n == 0 && t.emptied[name] != "") || err != nil && !t.confirmed[name] {
			continue
		}
		if err := againOnBrokenConn(ctx, func() error { return t.exec(ctx, "DROP DATABASE IF EXISTS "+sqltext.QuoteIdent(name)) }); err != nil {
			log.Error("restore failed and dropping what it created failed too", "database", name, "error", err.Error())
			continue
		}
		if create, ok := t.emptied[name]; ok {
			if err := t.exec(ctx, create); err != nil {
				log.Error("restore failed and recreating the empty database failed", "database", name, "error", err.Error())
			}
		}
		log.Warn("restore failed: dropped the database it had created", "database", name)
	}
}

// rollbackWaits are the waits before each try of a rollback statement
// whose connection the network broke (a reset is what failed the restore,
// and the pool may hold more connections it cut) or whose server is
// restarting: about 16 s in all.
var rollbackWaits = []time.Duration{0, 250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}

// againOnBrokenConn runs fn, again with a fresh connection while it fails
// on a broken one (database/sql discards it) or cannot connect, at most
// len(rollbackWaits) times.
func againOnBrokenConn(ctx context.Context, fn func() error) error {
	var err error
	for _, w := range rollbackWaits {
		select {
		case <-time.After(w):
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		}
		if err = fn(); !brokenConn(err) {
			return err
		}
	}
	return err
}

func brokenConn(err error) bool {
	var oe *net.OpError
	return errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, driver.ErrBadConn) || errors.As(err, &oe) && oe.Op == "dial"
}

// ErrTargetExists is matched by the error of a restore into an existing,
// non-empty database without Replace.
var ErrTargetExists = errors.New("target database exists")
