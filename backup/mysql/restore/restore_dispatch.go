package restore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/opsteam/ops/backup/mysql/guard"
	"github.com/opsteam/ops/backup/mysql/sqltext"
)

// queueBytes bounds the SQL given to one data connection and not yet
// done (about 12 of the dumper's statements at its default size). The
// restore reads the stream in order, and the tables of an interleaved dump
// take turns in it: when one connection's queue is full the restore waits,
// and the other connections run dry once theirs is empty. The more each may
// hold, the further their tables' loads may drift apart (one waiting for a
// flush, the other not) before one waits for the other.
const queueBytes = 12 << 20

// workerQueue bounds the number of statements queued on a data connection
// (for small statements, whose bytes do not bound them).
const workerQueue = 64

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
// to, else the one with the fewest tables still loading (then the least
// busy), which the table is then given to. A table is loaded by one
// connection: LOAD DATA holds InnoDB's table-level AUTO-INC lock to its
// end, and rows of one table arriving from two connections contend for the
// same pages. An interleaved dump (see plan) keeps every connection busy
// with its own table, as long as a new table goes to a connection whose
// table has ended: given to one still loading another, it would wait
// behind it, the restore would stop reading at that connection's full
// queue, and the other connection would sit idle until the first table's
// rows were all loaded. A statement of a table loaded alone (asInsert)
// goes to the least busy connection.
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
			if w == nil || c.tables < w.tables || (c.tables == w.tables && c.pending < w.pending) {
				w = c
			}
		}
		if key != "" {
			e.owner[key] = w
			w.tables++
		}
	}
	w.pending++
	return w
}

// tableEnded records that table's end-of-data marker has come: its
// connection is free for a new table once its queue drains (late rows of
// the table still go to it).
func (e *restoreExec) tableEnded(table string) {
	e.dmu.Lock()
	defer e.dmu.Unlock()
	if w := e.owner[table]; w != nil && !e.ended[table] {
		w.tables--
		e.ended[table] = true
	}
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

// execData runs an INSERT of the dump on c: as LOAD DATA when it can be
// (see loader), else as written. Rows loaded as LOAD DATA are data that
// appendTSV took apart value by value; rows that run as SQL pass the
// guard's row check first (see parseStream).
func (e *restoreExec) execData(c *sql.Conn, s *loadSession, buf []byte, it restoreItem) ([]byte, error) {
	if !it.asInsert {
		var err error
		buf, err = e.loader.load(e.ctx, c, s, it.target, it.form, buf)
		if !errors.Is(err, errNotLoaded) {
			if err == nil {
				e.loader.loaded.Add(1)
			}
			return buf, err
		}
	}
	q, err := asWritten(it)
	if err != nil {
		return buf, err
	}
	return buf, execRetryingDeadlocks(e.ctx, c, q)
}

// asWritten is the SQL of a data item that runs as written. The rows of an
// INSERT of the dumper's form are checked here, not by parseStream.
func asWritten(it restoreItem) (string, error) {
	if it.form != nil {
		if err := guard.CheckRows(it.form.rows, it.lex); err != nil {
			return "", err
		}
	}
	return it.st.SQL, nil
}

// catchUp runs on w's connection the session statements (SET …, USE …)
// the main connection ran before the job it is given now.
func (w *restoreWorker) catchUp(ctx context.Context, session []string) error {
	for ; w.applied < len(session); w.applied++ {
		w.load.checked = false
		if _, err := w.conn.ExecContext(ctx, session[w.applied]); err != nil {
			return fmt.Errorf("replay %s: %w", sqltext.Abbreviate(session[w.applied], 100), err)
		}
	}
	return nil
}

func (e *restoreExec) work(w *restoreWorker) {
	for j := range w.jobs {
		if !e.failed() {
			if err := w.catchUp(e.ctx, j.session); err != nil {
				e.fail(fmt.Errorf("restore: data connection: %w", err))
			} else {
				var err error
				if w.buf, err = e.execData(w.conn, &w.load, w.buf, j.it); err != nil {
					e.fail(e.stmtErr(j.num, j.it, err))
				} else {
					e.done.Add(1)
				}
			}
		}
		w.room.Release(j.size)
		e.release(w)
		j.table.Done()
		e.inflight.Done()
	}
}
