package dump

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"github.com/opsteam/ops/backup/mysql/conn"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func (d *Dumper) coordInTx() bool { return d.Res.ConsistencyMode != ModeSingleSnapshot }

// ---------------------------------------------------------------------------
// Consistency

func (d *Dumper) establish(ctx context.Context) error {
	if d.opts.Consistency != ConsistencyNoLock {
		err := d.lockAndSnapshot(ctx)
		if err == nil {
			return nil
		}
		if d.opts.Consistency == ConsistencyAuto && conn.IsAccessDenied(err) {
			d.log.Warn("cannot take the global read lock (missing RELOAD privilege?); using a lock-free snapshot", "error", err)
		} else {
			return err
		}
	}
	return d.noLockSnapshot(ctx)
}

// lockAndSnapshot: FTWRL (bounded by a watchdog) → every connection starts a
// consistent snapshot → binlog position/GTID read → UNLOCK TABLES.
func (d *Dumper) lockAndSnapshot(ctx context.Context) error {
	timeout := d.opts.MySQL.LockWaitTimeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	secs := int(timeout.Round(time.Second) / time.Second)
	if secs < 1 {
		secs = 1
	}
	if _, err := d.coord.ExecContext(ctx, fmt.Sprintf("SET SESSION lock_wait_timeout = %d", secs)); err != nil {
		return fmt.Errorf("set lock_wait_timeout: %w", err)
	}
	if d.Srv.MySQL8() {
		// Blocks DDL for the whole dump (released in cleanup); needs BACKUP_ADMIN.
		if _, err := d.coord.ExecContext(ctx, "LOCK INSTANCE FOR BACKUP"); err == nil {
			d.instanceLock = true
		} else {
			d.log.Debug("LOCK INSTANCE FOR BACKUP not available", "error", err)
		}
	}
	var connID int64
	if err := d.coord.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&connID); err != nil {
		return fmt.Errorf("read connection id: %w", err)
	}
	// Watchdog: a waiting FTWRL queues every writer behind it, so it must
	// not outlive the bound (nor a cancelled context).
	var fired atomic.Bool
	kill := func() {
		fired.Store(true)
		kctx, kc := context.WithTimeout(context.Background(), 10*time.Second)
		defer kc()
		if _, err := d.db.ExecContext(kctx, fmt.Sprintf("KILL QUERY %d", connID)); err != nil {
			d.log.Warn("could not kill the waiting FLUSH TABLES WITH READ LOCK", "error", err)
		}
	}
	timer := time.AfterFunc(timeout, kill)
	stopCtx := context.AfterFunc(ctx, kill)
	start := time.Now()
	_, err := d.coord.ExecContext(context.WithoutCancel(ctx), "FLUSH TABLES WITH READ LOCK")
	timer.Stop()
	stopCtx()
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("FLUSH TABLES WITH READ LOCK: %w", context.Cause(ctx))
		}
		if fired.Load() || conn.ErrNo(err) == 1205 || conn.ErrNo(err) == 1317 {
			return fmt.Errorf("FLUSH TABLES WITH READ LOCK waited more than %s (a long-running query or transaction holds a conflicting lock): %w", timeout, conn.ErrLockWaitTimeout)
		}
		return fmt.Errorf("FLUSH TABLES WITH READ LOCK: %w", err)
	}
	if fired.Load() { // killed just after it succeeded: the lock is held anyway
		d.log.Debug("watchdog fired after the lock was taken")
	}
	locked := time.Now()
	unlock := func() {
		d.coord.ExecContext(context.WithoutCancel(ctx), "UNLOCK TABLES") //nolint:errcheck
	}
	if err := d.startSnapshots(ctx, append([]*sql.Conn{d.coord}, d.workers...)); err != nil {
		unlock()
		return err
	}
	if err := d.readBinlogPos(ctx, d.coord, &d.Res.BinlogFile, &d.Res.BinlogPos, &d.Res.GTID); err != nil {
		unlock()
		return err
	}
	if _, err := d.coord.ExecContext(ctx, "UNLOCK TABLES"); err != nil {
		return fmt.Errorf("UNLOCK TABLES: %w", err)
	}
	d.Res.LockHeld = time.Since(locked)
	d.Res.ConsistencyMode = ModeLock
	d.log.Debug("global read lock", "waited", locked.Sub(start), "held", d.Res.LockHeld)
	return nil
}

// startSnapshots opens a consistent snapshot on every connection, all at
// the same time (a narrow window matters for the lock-free mode).
func (d *Dumper) startSnapshots(ctx context.Context, conns []*sql.Conn) error {
	errs := make([]error, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = c.ExecContext(ctx, "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("START TRANSACTION WITH CONSISTENT SNAPSHOT: %w", err)
	}
	return nil
}

func (d *Dumper) rollbackAll(conns []*sql.Conn) {
	for _, c := range conns {
		c.ExecContext(context.Background(), "ROLLBACK") //nolint:errcheck
	}
}

// readBinlogPos reads the binary log coordinates and the GTID position.
// With binary logging off (or without the privilege) they stay empty.
func (d *Dumper) readBinlogPos(ctx context.Context, c *sql.Conn, file *string, pos *uint64, gtid *string) error {
	q := "SHOW MASTER STATUS"
	if !d.Srv.MariaDB && d.Srv.AtLeast(8, 2, 0) {
		q = "SHOW BINARY LOG STATUS"
	}
	rows, err := conn.QueryRows(ctx, c, q)
	if err != nil {
		if conn.IsAccessDenied(err) {
			d.log.Warn("cannot read the binary log position (needs REPLICATION CLIENT / BINLOG MONITOR)", "error", err)
			return nil
		}
		return fmt.Errorf("%s: %w", q, err)
	}
	if len(rows) == 1 {
		*file = conn.Col(rows[0], "File")
		fmt.Sscan(conn.Col(rows[0], "Position"), pos) //nolint:errcheck
	}
	gq := "SELECT @@GLOBAL.gtid_executed"
	if d.Srv.MariaDB {
		gq = "SELECT @@GLOBAL.gtid_binlog_pos"
	}
	var g sql.NullString
	if err := c.QueryRowContext(ctx, gq).Scan(&g); err == nil {
		*gtid = g.String
	}
	return nil
}

// noLockSnapshot: without the global lock. When binary logging is on, all
// connections open their snapshots and the dump proves they are identical:
// on MariaDB every snapshot reports the binlog position it corresponds to
// (Binlog_snapshot_file/position); on Config the binlog position must not
// move while the snapshots are opened (mydumper's SAFE_NO_LOCK). Otherwise
// (or after 5 failed attempts) one connection reads everything.
func (d *Dumper) noLockSnapshot(ctx context.Context) error {
	conns := append([]*sql.Conn{d.coord}, d.workers...)
	if d.Srv.LogBin && len(d.workers) > 1 {
		for attempt := 1; attempt <= 5; attempt++ {
			ok, err := d.trySafeNoLock(ctx, conns)
			if err != nil {
				return err
			}
			if ok {
				d.Res.ConsistencyMode = ModeSafeNoLock
				return nil
			}
			d.log.Debug("binlog moved while opening snapshots; retrying", "attempt", attempt)
			time.Sleep(time.Duration(attempt) * 50 * time.Millisecond)
		}
		d.log.Warn("could not open identical snapshots without a lock (busy server); dumping with one connection")
	}
	// Single snapshot: one reading connection; the coordinator only plans.
	for _, c := range d.workers[1:] {
		c.Close()
	}
	d.workers = d.workers[:1]
	if err := d.startSnapshots(ctx, d.workers); err != nil {
		return err
	}
	if d.Srv.MariaDB && d.Srv.LogBin {
		f, p, err := snapshotPos(ctx, d.workers[0])
		if err == nil {
			d.Res.BinlogFile, d.Res.BinlogPos = f, p
		}
	}
	d.Res.ConsistencyMode = ModeSingleSnapshot
	return nil
}

func snapshotPos(ctx context.Context, c *sql.Conn) (string, uint64, error) {
	rows, err := conn.QueryRows(ctx, c, "SHOW SESSION STATUS WHERE Variable_name IN ('Binlog_snapshot_file','Binlog_snapshot_position')")
	if err != nil {
		return "", 0, err
	}
	var f string
	var p uint64
	for _, r := range rows {
		switch conn.Col(r, "Variable_name") {
		case "Binlog_snapshot_file":
			f = conn.Col(r, "Value")
		case "Binlog_snapshot_position":
			fmt.Sscan(conn.Col(r, "Value"), &p) //nolint:errcheck
		}
	}
	return f, p, nil
}

func (d *Dumper) trySafeNoLock(ctx context.Context, conns []*sql.Conn) (bool, error) {
	var f1, f2, g1, g2 string
	var p1, p2 uint64
	if !d.Srv.MariaDB {
		if err := d.readBinlogPos(ctx, d.coord, &f1, &p1, &g1); err != nil {
			return false, err
		}
		if f1 == "" {
			return false, nil
		}
	}
	if err := d.startSnapshots(ctx, conns); err != nil {
		return false, err
	}
	if d.Srv.MariaDB {
		var first string
		var firstPos uint64
		for i, c := range conns {
			f, p, err := snapshotPos(ctx, c)
			if err != nil || f == "" {
				d.rollbackAll(conns)
				return false, nil
			}
			if i == 0 {
				first, firstPos = f, p
			} else if f != first || p != firstPos {
				d.rollbackAll(conns)
				return false, nil
			}
		}
		d.Res.BinlogFile, d.Res.BinlogPos = first, firstPos
		var g sql.NullString
		if err := conns[0].QueryRowContext(ctx, "SELECT BINLOG_GTID_POS(?, ?)", first, firstPos).Scan(&g); err == nil {
			d.Res.GTID = g.String
		}
		return true, nil
	}
	if err := d.readBinlogPos(ctx, d.coord, &f2, &p2, &g2); err != nil {
		return false, err
	}
	if f1 != f2 || p1 != p2 {
		d.rollbackAll(conns)
		return false, nil
	}
	d.Res.BinlogFile, d.Res.BinlogPos, d.Res.GTID = f1, p1, g1
	return true, nil
}

// ---------------------------------------------------------------------------
// Streaming: parts in a fixed order, produced in parallel, written in order.

// serverNow reads the server's clock (zero when it cannot).
func serverNow(ctx context.Context, c *sql.Conn) time.Time {
	var s string
	if err := c.QueryRowContext(ctx, "SELECT UNIX_TIMESTAMP(NOW(6))").Scan(&s); err != nil {
		return time.Time{}
	}
	sec, frac, _ := strings.Cut(s, ".")
	n, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return time.Time{}
	}
	var ns int64
	if frac != "" {
		frac = (frac + "000000000")[:9]
		ns, _ = strconv.ParseInt(frac, 10, 64)
	}
	return time.Unix(n, ns).UTC()
}
