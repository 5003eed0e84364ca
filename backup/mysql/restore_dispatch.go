package mysql

import (
	"context"
	"database/sql"
	"errors"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
)

// workerQueue is how many statements a data connection may have queued
// besides the one it runs.
const workerQueue = 3

// lookahead is how many statements the restore looks ahead of the one it
// dispatches (see alone).
const lookahead = 8

// alone reports whether the data statements among the next ones (rest) are
// all of its table: a table loaded on its own, in a database of one table,
// at the end of a dump, or in a dump written before the tables took turns.
// Its rows then go as INSERTs to whichever data connection is free: two
// connections inserting into one table share the work, while two LOAD
// DATA of one table wait for each other (the AUTO-INC lock), and the other
// connection would have nothing to do.
func alone(it restoreItem, rest []restoreItem) bool {
	if it.table == "" {
		return false
	}
	for _, r := range rest {
		if r.data && r.table != it.table {
			return false
		}
	}
	return true
}

// pick chooses the data connection for it: the one its table was given
// to, else the least busy (which the table is then given to). A table is
// loaded by one connection: LOAD DATA holds InnoDB's table-level AUTO-INC
// lock to its end, and rows of one table arriving from two connections
// contend for the same pages. An interleaved dump (see plan) keeps every
// connection busy with its own table. A statement of a table loaded alone
// (asInsert) goes to the least busy connection.
func (e *restoreExec) pick(it restoreItem) *restoreWorker {
	key := it.table
	if it.asInsert {
		key = ""
	}
	e.dmu.Lock()
	defer e.dmu.Unlock()
	w := e.owner[key]
	if w == nil {
		for _, c := range e.workers {
			if w == nil || c.pending < w.pending {
				w = c
			}
		}
		if key != "" {
			e.owner[key] = w
		}
	}
	w.pending++
	return w
}

// release records that w is done with a job.
func (e *restoreExec) release(w *restoreWorker) {
	e.dmu.Lock()
	w.pending--
	e.dmu.Unlock()
}

// execRetryingDeadlocks runs one autocommitted INSERT of a parallel load.
// Two data connections inserting into the same table can deadlock in InnoDB
// (error 1213) or time out on a lock (1205); the statement was then rolled
// back whole, so running it again is safe.
func execRetryingDeadlocks(ctx context.Context, c *sql.Conn, q string) error {
	_, err := execResultRetryingDeadlocks(ctx, c, q)
	return err
}

func execResultRetryingDeadlocks(ctx context.Context, c *sql.Conn, q string) (sql.Result, error) {
	var err error
	for attempt := 0; attempt < 10; attempt++ {
		var res sql.Result
		if res, err = c.ExecContext(ctx, q); err == nil {
			return res, nil
		}
		var me *gomysql.MySQLError
		if !errors.As(err, &me) || (me.Number != 1213 && me.Number != 1205) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(time.Duration(attempt+1) * 10 * time.Millisecond):
		}
	}
	return nil, err
}
