package mysql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"github.com/opsteam/ops/backup/compress"
	"io"
	"log/slog"
	"math/big"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Consistency modes (DumpOptions.Consistency and DumpResult.ConsistencyMode).
const (
	// ConsistencyAuto takes the global read lock and falls back to a
	// lock-free mode when the account may not take it (no RELOAD).
	ConsistencyAuto = "auto"
	// ConsistencyLock requires the global read lock (FLUSH TABLES WITH READ LOCK).
	ConsistencyLock = "lock"
	// ConsistencyNoLock never takes the global read lock.
	ConsistencyNoLock = "nolock"

	// ModeLock: FTWRL held while every connection opened its snapshot and
	// the binlog position was read.
	ModeLock = "ftwrl"
	// ModeSafeNoLock: no lock; every connection's snapshot was proven to be
	// at the same binlog position.
	ModeSafeNoLock = "safe_no_lock"
	// ModeSingleSnapshot: no lock, binlog position unknown or unverifiable:
	// a single connection reads everything from one snapshot.
	ModeSingleSnapshot = "single_snapshot"
)

// ErrLockWaitTimeout is returned (wrapped) when the global read lock could
// not be taken within MySQL.LockWaitTimeout.
var ErrLockWaitTimeout = errors.New("lock wait timeout exceeded")

// DumpOptions configures Dump.
type DumpOptions struct {
	MySQL            Config
	Databases        []string        // empty: every database except information_schema, performance_schema, sys, mysql
	ExcludeTables    []string        // "db.table" glob patterns (path.Match syntax)
	Threads          int             // reading connections (default DefaultThreads)
	Compression      compress.Method // zstd (default) | gzip | none
	CompressionLevel int             // 0 = default: zstd level 1 (fastest), gzip level 6; zstd 1-22, gzip 1-9
	ChunkRows        int64           // rows per primary-key range (0 = automatic, ~16 MiB of rows)
	// MaxStatementBytes caps each extended INSERT (default 1 MiB); never
	// above the server's max_allowed_packet minus 1 KiB.
	MaxStatementBytes int
	// Consistency is auto (default), lock or nolock; see the constants.
	Consistency string
	Logger      *slog.Logger
	// Checksums runs CHECKSUM TABLE for every table inside the dump's
	// snapshot once the data is written, so that a restore can be
	// compared with exactly what was dumped (one more read of each table).
	Checksums bool
	// Progress, if set, is called from the writing goroutine after each
	// part of the stream has been written.
	Progress func(Progress)
}

// Progress reports dump progress.
type Progress struct {
	Database, Table string // the part just written ("" for schema parts)
	RawBytes        int64  // uncompressed SQL written so far
	StoredBytes     int64  // bytes written to the sink so far
}

// TableStat is the row count of one dumped table.
type TableStat struct {
	Database string  `json:"database"`
	Name     string  `json:"name"`
	Rows     int64   `json:"rows"`
	Checksum *uint64 `json:"checksum,omitempty"` // CHECKSUM TABLE in the snapshot (DumpOptions.Checksums)
}

// DumpResult describes a finished dump.
type DumpResult struct {
	ServerVersion   string          `json:"server_version"`
	ConsistencyMode string          `json:"consistency_mode"`
	BinlogFile      string          `json:"binlog_file,omitempty"`
	BinlogPos       uint64          `json:"binlog_pos,omitempty"`
	GTID            string          `json:"gtid,omitempty"`
	LockHeld        time.Duration   `json:"lock_held_ns,omitempty"`
	StartedAt       time.Time       `json:"started_at"`
	FinishedAt      time.Time       `json:"finished_at"`
	Databases       []string        `json:"databases"`
	Tables          []TableStat     `json:"tables"`
	Compression     compress.Method `json:"compression"`
	RawBytes        int64           `json:"raw_bytes"`    // uncompressed SQL
	StoredBytes     int64           `json:"stored_bytes"` // written to the sink
}

// DefaultThreads is the number of connections a dump reads with, and a
// restore loads with, when none is configured.
const DefaultThreads = 2

const (
	defaultStatementBytes = 1 << 20
	frameBytes            = 2 << 20  // raw SQL per compressed frame
	defaultChunkBytes     = 16 << 20 // target raw size of a primary-key range
	framesPerPart         = 2        // finished frames a part may queue
	sessionTimeout        = 86400    // net_*_timeout, wait_timeout for dump sessions
)

// Dump writes one consistent SQL dump of the selected databases to w. The
// stream (compressed as opts.Compression) recreates and selects every
// database itself, like `mysqldump --databases`, and loads with
// `zstd -dc | mysql` or Restore. Nothing but w is written; on error the
// caller must discard what was written.
func Dump(ctx context.Context, opts DumpOptions, w io.Writer) (*DumpResult, error) {
	d := &dumper{opts: opts, log: opts.Logger, res: &DumpResult{StartedAt: time.Now().UTC()}}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.opts.Threads <= 0 {
		d.opts.Threads = DefaultThreads
	}
	d.opts.Compression = d.opts.Compression.OrDefault()
	if d.opts.Consistency == "" {
		d.opts.Consistency = ConsistencyAuto
	}
	switch d.opts.Consistency {
	case ConsistencyAuto, ConsistencyLock, ConsistencyNoLock:
	default:
		return nil, fmt.Errorf("consistency %q: expected auto, lock or nolock", d.opts.Consistency)
	}
	for _, p := range d.opts.ExcludeTables {
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("exclude_tables pattern %q: %w", p, err)
		}
	}
	d.res.Compression = d.opts.Compression
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	d.ctx = ctx
	err := d.run(ctx, cancel, w)
	d.cleanup()
	if err != nil {
		if c := context.Cause(ctx); c != nil && !errors.Is(err, c) && errors.Is(err, context.Canceled) {
			err = c
		}
		return nil, err
	}
	d.res.FinishedAt = time.Now().UTC()
	return d.res, nil
}

type dumper struct {
	opts    DumpOptions
	log     *slog.Logger
	res     *DumpResult
	ctx     context.Context
	db      *sql.DB
	coord   *sql.Conn
	workers []*sql.Conn
	srv     serverInfo
	codec   compress.Codec
	stmtCap int

	instanceLock bool
	rawBytes     atomic.Int64
	stored       atomic.Int64
	bufPool      sync.Pool // raw SQL buffers (frameBytes and a bit)
	framePool    sync.Pool // compressed frames (sized by use)
}

func (d *dumper) cleanup() {
	bg := context.Background()
	if d.coord != nil {
		if d.instanceLock {
			d.coord.ExecContext(bg, "UNLOCK INSTANCE") //nolint:errcheck
		}
		d.coord.Close()
	}
	for _, c := range d.workers {
		c.Close()
	}
	if d.db != nil {
		d.db.Close()
	}
	if d.codec != nil {
		d.codec.Close()
	}
}

func (d *dumper) excluded(db, table string) bool {
	if strings.EqualFold(db, "mysql") && (table == "innodb_index_stats" || table == "innodb_table_stats") {
		return true // server-maintained statistics: reloading them fails or is harmful (Config bug 92675)
	}
	name := db + "." + table
	for _, p := range d.opts.ExcludeTables {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

func (d *dumper) sessionSetup(ctx context.Context, c *sql.Conn) error {
	stmts := []string{
		fmt.Sprintf("SET SESSION time_zone = '+00:00', sql_mode = '', character_set_results = utf8mb4, net_write_timeout = %d, net_read_timeout = %d, wait_timeout = %d",
			sessionTimeout, sessionTimeout, sessionTimeout),
		"SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
	}
	if d.srv.mysql8() {
		stmts = append(stmts, "SET SESSION information_schema_stats_expiry = 0")
	}
	for _, s := range stmts {
		if _, err := c.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("session setup (%s): %w", s, err)
		}
	}
	return nil
}

func (d *dumper) run(ctx context.Context, cancel context.CancelCauseFunc, w io.Writer) error {
	var err error
	d.db, err = Connect(ctx, d.opts.MySQL, d.log)
	if err != nil {
		return err
	}
	d.db.SetMaxIdleConns(d.opts.Threads + 2)
	if d.coord, err = d.db.Conn(ctx); err != nil {
		return fmt.Errorf("open connection: %w", err)
	}
	if d.srv, err = readServerInfo(ctx, d.coord); err != nil {
		return err
	}
	d.res.ServerVersion = d.srv.Version
	if err := d.sessionSetup(ctx, d.coord); err != nil {
		return err
	}
	d.stmtCap = d.opts.MaxStatementBytes
	if d.stmtCap <= 0 {
		d.stmtCap = defaultStatementBytes
	}
	if d.srv.MaxPacket > 0 && int64(d.stmtCap) > d.srv.MaxPacket-1024 {
		d.stmtCap = int(d.srv.MaxPacket - 1024)
	}

	// Which databases.
	all, err := listDatabases(ctx, d.coord)
	if err != nil {
		return err
	}
	var dbs []string
	if len(d.opts.Databases) == 0 {
		for _, n := range all {
			if !systemDatabases[strings.ToLower(n)] {
				dbs = append(dbs, n)
			}
		}
	} else {
		for _, n := range d.opts.Databases {
			if !slices.Contains(all, n) {
				return fmt.Errorf("database %q not found on the server (or no privilege to see it)", n)
			}
			if !slices.Contains(dbs, n) {
				dbs = append(dbs, n)
			}
		}
		slices.Sort(dbs)
	}
	d.res.Databases = dbs

	// Reading connections.
	for range d.opts.Threads {
		c, err := d.db.Conn(ctx)
		if err != nil {
			return fmt.Errorf("open dump connection: %w", err)
		}
		d.workers = append(d.workers, c)
		if err := d.sessionSetup(ctx, c); err != nil {
			return err
		}
	}
	if err := d.establish(ctx); err != nil {
		return err
	}
	d.log.Info("dump snapshot established", "mode", d.res.ConsistencyMode, "binlog_file", d.res.BinlogFile,
		"binlog_pos", d.res.BinlogPos, "gtid", d.res.GTID, "lock_held", d.res.LockHeld, "threads", len(d.workers))

	// Metadata, inside the coordinator's snapshot.
	var metas []*dbMeta
	for _, n := range dbs {
		m, err := readDatabase(ctx, d.coord, d.srv, n, d.excluded)
		if err != nil {
			return err
		}
		metas = append(metas, m)
	}
	if _, err := d.coord.ExecContext(ctx, "SAVEPOINT ops_plan"); err != nil && d.coordInTx() {
		return fmt.Errorf("SAVEPOINT: %w", err)
	}

	if d.codec, err = d.opts.Compression.NewCodec(d.opts.CompressionLevel, len(d.workers)+1); err != nil {
		return err
	}
	return d.stream(ctx, cancel, metas, w)
}

func (d *dumper) coordInTx() bool { return d.res.ConsistencyMode != ModeSingleSnapshot }

// ---------------------------------------------------------------------------
// Consistency

func isAccessDenied(err error) bool {
	n := mysqlErrNo(err)
	return n == 1227 || n == 1044 || n == 1045 || n == 1142
}

func (d *dumper) establish(ctx context.Context) error {
	if d.opts.Consistency != ConsistencyNoLock {
		err := d.lockAndSnapshot(ctx)
		if err == nil {
			return nil
		}
		if d.opts.Consistency == ConsistencyAuto && isAccessDenied(err) {
			d.log.Warn("cannot take the global read lock (missing RELOAD privilege?); using a lock-free snapshot", "error", err)
		} else {
			return err
		}
	}
	return d.noLockSnapshot(ctx)
}

// lockAndSnapshot: FTWRL (bounded by a watchdog) → every connection starts a
// consistent snapshot → binlog position/GTID read → UNLOCK TABLES.
func (d *dumper) lockAndSnapshot(ctx context.Context) error {
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
	if d.srv.mysql8() {
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
		if fired.Load() || mysqlErrNo(err) == 1205 || mysqlErrNo(err) == 1317 {
			return fmt.Errorf("FLUSH TABLES WITH READ LOCK waited more than %s (a long-running query or transaction holds a conflicting lock): %w", timeout, ErrLockWaitTimeout)
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
	if err := d.readBinlogPos(ctx, d.coord, &d.res.BinlogFile, &d.res.BinlogPos, &d.res.GTID); err != nil {
		unlock()
		return err
	}
	if _, err := d.coord.ExecContext(ctx, "UNLOCK TABLES"); err != nil {
		return fmt.Errorf("UNLOCK TABLES: %w", err)
	}
	d.res.LockHeld = time.Since(locked)
	d.res.ConsistencyMode = ModeLock
	d.log.Debug("global read lock", "waited", locked.Sub(start), "held", d.res.LockHeld)
	return nil
}

// startSnapshots opens a consistent snapshot on every connection, all at
// the same time (a narrow window matters for the lock-free mode).
func (d *dumper) startSnapshots(ctx context.Context, conns []*sql.Conn) error {
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

func (d *dumper) rollbackAll(conns []*sql.Conn) {
	for _, c := range conns {
		c.ExecContext(context.Background(), "ROLLBACK") //nolint:errcheck
	}
}

// readBinlogPos reads the binary log coordinates and the GTID position.
// With binary logging off (or without the privilege) they stay empty.
func (d *dumper) readBinlogPos(ctx context.Context, c *sql.Conn, file *string, pos *uint64, gtid *string) error {
	q := "SHOW MASTER STATUS"
	if !d.srv.MariaDB && d.srv.atLeast(8, 2, 0) {
		q = "SHOW BINARY LOG STATUS"
	}
	rows, err := queryRows(ctx, c, q)
	if err != nil {
		if isAccessDenied(err) {
			d.log.Warn("cannot read the binary log position (needs REPLICATION CLIENT / BINLOG MONITOR)", "error", err)
			return nil
		}
		return fmt.Errorf("%s: %w", q, err)
	}
	if len(rows) == 1 {
		*file = col(rows[0], "File")
		fmt.Sscan(col(rows[0], "Position"), pos) //nolint:errcheck
	}
	gq := "SELECT @@GLOBAL.gtid_executed"
	if d.srv.MariaDB {
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
func (d *dumper) noLockSnapshot(ctx context.Context) error {
	conns := append([]*sql.Conn{d.coord}, d.workers...)
	if d.srv.LogBin && len(d.workers) > 1 {
		for attempt := 1; attempt <= 5; attempt++ {
			ok, err := d.trySafeNoLock(ctx, conns)
			if err != nil {
				return err
			}
			if ok {
				d.res.ConsistencyMode = ModeSafeNoLock
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
	if d.srv.MariaDB && d.srv.LogBin {
		f, p, err := snapshotPos(ctx, d.workers[0])
		if err == nil {
			d.res.BinlogFile, d.res.BinlogPos = f, p
		}
	}
	d.res.ConsistencyMode = ModeSingleSnapshot
	return nil
}

func snapshotPos(ctx context.Context, c *sql.Conn) (string, uint64, error) {
	rows, err := queryRows(ctx, c, "SHOW SESSION STATUS WHERE Variable_name IN ('Binlog_snapshot_file','Binlog_snapshot_position')")
	if err != nil {
		return "", 0, err
	}
	var f string
	var p uint64
	for _, r := range rows {
		switch col(r, "Variable_name") {
		case "Binlog_snapshot_file":
			f = col(r, "Value")
		case "Binlog_snapshot_position":
			fmt.Sscan(col(r, "Value"), &p) //nolint:errcheck
		}
	}
	return f, p, nil
}

func (d *dumper) trySafeNoLock(ctx context.Context, conns []*sql.Conn) (bool, error) {
	var f1, f2, g1, g2 string
	var p1, p2 uint64
	if !d.srv.MariaDB {
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
	if d.srv.MariaDB {
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
		d.res.BinlogFile, d.res.BinlogPos = first, firstPos
		var g sql.NullString
		if err := conns[0].QueryRowContext(ctx, "SELECT BINLOG_GTID_POS(?, ?)", first, firstPos).Scan(&g); err == nil {
			d.res.GTID = g.String
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
	d.res.BinlogFile, d.res.BinlogPos, d.res.GTID = f1, p1, g1
	return true, nil
}

// ---------------------------------------------------------------------------
// Streaming: parts in a fixed order, produced in parallel, written in order.

// part is one piece of the output stream; its compressed frames arrive on
// frames (closed when the part is complete; err is set before closing).
type part struct {
	db, table string
	frames    chan []byte
	err       error

	// data parts
	tbl   *tableMeta
	where string // "" = whole table
	order string
	first bool
}

func (d *dumper) getBuf() []byte {
	if b, ok := d.bufPool.Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return make([]byte, 0, frameBytes+frameBytes/2)
}

func (d *dumper) putBuf(b []byte) {
	if cap(b) > 4*frameBytes {
		return
	}
	d.bufPool.Put(&b)
}

func (d *dumper) getFrame() []byte {
	if b, ok := d.framePool.Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return nil
}

func (d *dumper) putFrame(b []byte) {
	if cap(b) > 4*frameBytes {
		return
	}
	d.framePool.Put(&b)
}

func (d *dumper) stream(ctx context.Context, cancel context.CancelCauseFunc, metas []*dbMeta, w io.Writer) error {
	maxInFlight := 2*len(d.workers) + 2
	order := make(chan *part, maxInFlight)
	slots := make(chan struct{}, maxInFlight)
	work := make(chan *part)
	rowsByTable := map[*tableMeta]*atomic.Int64{}
	for _, m := range metas {
		for _, t := range m.Tables {
			rowsByTable[t] = new(atomic.Int64)
		}
	}

	var wg sync.WaitGroup
	fail := func(err error) { cancel(err) }

	// Workers.
	for _, c := range d.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range work {
				n, err := d.dumpPart(ctx, c, p)
				rowsByTable[p.tbl].Add(n)
				if err != nil {
					p.err = err
					fail(err)
				}
				close(p.frames)
			}
		}()
	}

	// Planner: emits parts in output order.
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(work)
		defer close(order)
		if err := d.plan(ctx, metas, func(p *part) bool {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return false
			}
			select {
			case order <- p:
			case <-ctx.Done():
				return false
			}
			if p.tbl != nil {
				select {
				case work <- p:
				case <-ctx.Done():
					return false
				}
			}
			return true
		}); err != nil {
			fail(err)
		}
	}()

	// Writer (this goroutine).
	var werr error
	for p := range order {
		if werr == nil {
			werr = d.writePart(ctx, p, w)
			if werr != nil {
				fail(werr)
			}
		}
		// After a failure the context is cancelled: producers blocked on
		// p.frames give up by themselves, nothing needs draining.
		<-slots
		if werr == nil && d.opts.Progress != nil {
			d.opts.Progress(Progress{Database: p.db, Table: p.table, RawBytes: d.rawBytes.Load(), StoredBytes: d.stored.Load()})
		}
	}
	wg.Wait()
	if werr != nil {
		return werr
	}
	if err := context.Cause(ctx); err != nil {
		return err
	}
	var sums map[*tableMeta]*uint64
	if d.opts.Checksums {
		var err error
		if sums, err = d.checksums(ctx, metas); err != nil {
			return err
		}
	}
	for _, m := range metas {
		for _, t := range m.Tables {
			d.res.Tables = append(d.res.Tables, TableStat{Database: t.DB, Name: t.Name, Rows: rowsByTable[t].Load(), Checksum: sums[t]})
		}
	}
	d.res.RawBytes = d.rawBytes.Load()
	d.res.StoredBytes = d.stored.Load()
	return nil
}

func (d *dumper) writePart(ctx context.Context, p *part, w io.Writer) error {
	for {
		select {
		case f, ok := <-p.frames:
			if !ok {
				if p.err != nil {
					return p.err
				}
				return nil
			}
			n, err := w.Write(f)
			d.stored.Add(int64(n))
			d.putFrame(f)
			if err == nil && n < len(f) {
				err = io.ErrShortWrite
			}
			if err != nil {
				return fmt.Errorf("write dump stream: %w", err)
			}
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// staticPart compresses already-known SQL text into a finished part.
func (d *dumper) staticPart(db, table, sqlText string) (*part, error) {
	p := &part{db: db, table: table, frames: make(chan []byte, 1)}
	d.rawBytes.Add(int64(len(sqlText)))
	f, err := d.codec.Compress(d.getFrame(), []byte(sqlText))
	if err != nil {
		return nil, err
	}
	p.frames <- f
	close(p.frames)
	return p, nil
}

// plan emits every part of the stream, in order, through emit.
func (d *dumper) plan(ctx context.Context, metas []*dbMeta, emit func(*part) bool) error {
	static := func(db, table, text string) error {
		if text == "" {
			return nil
		}
		p, err := d.staticPart(db, table, text)
		if err != nil {
			return err
		}
		if !emit(p) {
			return context.Cause(ctx)
		}
		return nil
	}
	if err := static("", "", d.header()); err != nil {
		return err
	}
	// Phase A: databases, sequences, tables, placeholder views.
	for _, m := range metas {
		if err := static(m.Name, "", schemaSQL(m)); err != nil {
			return err
		}
	}
	// Phase B: data.
	for _, m := range metas {
		if len(m.Tables) == 0 {
			continue
		}
		if err := static(m.Name, "", "\nUSE "+QuoteIdent(m.Name)+";\n"); err != nil {
			return err
		}
		for _, t := range m.Tables {
			if err := d.planTable(ctx, t, emit); err != nil {
				return err
			}
		}
	}
	// Phase C-E: routines, views, triggers and events.
	for _, m := range metas {
		if err := static(m.Name, "", routinesSQL(m, d.srv.executeImmediate())); err != nil {
			return err
		}
	}
	for _, m := range metas {
		if err := static(m.Name, "", viewsSQL(m)); err != nil {
			return err
		}
	}
	for _, m := range metas {
		if err := static(m.Name, "", triggersEventsSQL(m, d.srv.executeImmediate())); err != nil {
			return err
		}
	}
	return static("", "", footer())
}

// chunkRows returns the number of rows per range for t.
func (d *dumper) chunkRows(t *tableMeta) int64 {
	if d.opts.ChunkRows > 0 {
		return d.opts.ChunkRows
	}
	avg := t.AvgRowLen
	if avg < 64 {
		avg = 64
	}
	return max(defaultChunkBytes/avg, 1000)
}

// planTable emits the data parts of one table: one part, or one per
// primary-key range found by keyset pagination in the snapshot.
func (d *dumper) planTable(ctx context.Context, t *tableMeta, emit func(*part) bool) error {
	newPart := func(where string, first bool) *part {
		p := &part{db: t.DB, table: t.Name, tbl: t, where: where, first: first, frames: make(chan []byte, framesPerPart)}
		if t.chunkable() {
			p.order = pkList(t)
		}
		return p
	}
	if len(t.Columns) == 0 {
		return nil
	}
	if !t.chunkable() || len(d.workers) < 2 {
		if !emit(newPart("", true)) {
			return context.Cause(ctx)
		}
		return nil
	}
	n := d.chunkRows(t)
	if isIntegerType(t.PK[0].DataType) {
		return d.planIntRanges(ctx, t, n, newPart, emit)
	}
	var prev []string // literals of the previous upper bound
	first := true
	for {
		q := "SELECT " + pkList(t) + " FROM " + QuoteIdent(t.DB) + "." + QuoteIdent(t.Name)
		if prev != nil {
			q += " WHERE " + keysetGT(t.PK, prev)
		}
		q += " ORDER BY " + pkList(t) + fmt.Sprintf(" LIMIT 1 OFFSET %d", n-1)
		bound, err := d.boundary(ctx, q, len(t.PK))
		if err != nil {
			return fmt.Errorf("table %s.%s: find chunk boundary: %w", QuoteIdent(t.DB), QuoteIdent(t.Name), err)
		}
		var where string
		switch {
		case prev == nil && bound == nil:
			where = ""
		case prev == nil:
			where = keysetLE(t.PK, bound)
		case bound == nil:
			where = keysetGT(t.PK, prev)
		default:
			where = "(" + keysetGT(t.PK, prev) + ") AND (" + keysetLE(t.PK, bound) + ")"
		}
		if !emit(newPart(where, first)) {
			return context.Cause(ctx)
		}
		first = false
		if bound == nil {
			break
		}
		prev = bound
	}
	if d.coordInTx() {
		if _, err := d.coord.ExecContext(ctx, "ROLLBACK TO SAVEPOINT ops_plan"); err != nil {
			return fmt.Errorf("ROLLBACK TO SAVEPOINT: %w", err)
		}
	}
	return nil
}

func isIntegerType(dt string) bool {
	switch dt {
	case "tinyint", "smallint", "mediumint", "int", "integer", "bigint":
		return true
	}
	return false
}

// planIntRanges splits a table whose primary key starts with an integer
// column into ranges of that column computed from MIN/MAX and the row
// estimate (two index dives instead of a keyset scan, which on InnoDB would
// read the whole clustered index once more). The first range is open below
// and the last open above, so every row is covered whatever the estimate.
func (d *dumper) planIntRanges(ctx context.Context, t *tableMeta, n int64, newPart func(string, bool) *part, emit func(*part) bool) error {
	c := QuoteIdent(t.PK[0].Name)
	var minS, maxS sql.NullString
	q := "SELECT MIN(" + c + "), MAX(" + c + ") FROM " + QuoteIdent(t.DB) + "." + QuoteIdent(t.Name)
	if err := d.coord.QueryRowContext(ctx, q).Scan(&minS, &maxS); err != nil {
		return fmt.Errorf("table %s.%s: read key range: %w", QuoteIdent(t.DB), QuoteIdent(t.Name), err)
	}
	if d.coordInTx() {
		if _, err := d.coord.ExecContext(ctx, "ROLLBACK TO SAVEPOINT ops_plan"); err != nil {
			return fmt.Errorf("ROLLBACK TO SAVEPOINT: %w", err)
		}
	}
	lo, ok1 := new(big.Int).SetString(minS.String, 10)
	hi, ok2 := new(big.Int).SetString(maxS.String, 10)
	var bounds []*big.Int
	if minS.Valid && maxS.Valid && ok1 && ok2 {
		span := new(big.Int).Sub(hi, lo)
		span.Add(span, big.NewInt(1))
		est := big.NewInt(t.EstRows)
		if t.EstRows <= 0 || (len(t.PK) == 1 && est.Cmp(span) > 0) {
			est = new(big.Int).Set(span) // a unique integer key has at most span rows
		}
		if est.Cmp(big.NewInt(n)) > 0 {
			// step = ceil(span * n / est)
			step := new(big.Int).Mul(span, big.NewInt(n))
			step.Add(step, new(big.Int).Sub(est, big.NewInt(1)))
			step.Quo(step, est)
			if step.Sign() <= 0 {
				step.SetInt64(1)
			}
			for b := new(big.Int).Add(lo, step); b.Cmp(hi) <= 0; b = new(big.Int).Add(b, step) {
				bounds = append(bounds, b)
			}
		}
	}
	if len(bounds) == 0 {
		if !emit(newPart("", true)) {
			return context.Cause(ctx)
		}
		return nil
	}
	for i := 0; i <= len(bounds); i++ {
		var where string
		switch {
		case i == 0:
			where = c + " < " + bounds[0].String()
		case i == len(bounds):
			where = c + " >= " + bounds[i-1].String()
		default:
			where = c + " >= " + bounds[i-1].String() + " AND " + c + " < " + bounds[i].String()
		}
		if !emit(newPart(where, i == 0)) {
			return context.Cause(ctx)
		}
	}
	return nil
}

// boundary runs a keyset query and returns the key as SQL literals (nil at
// the end of the table).
func (d *dumper) boundary(ctx context.Context, q string, ncols int) ([]string, error) {
	var out []string
	err := d.coord.Raw(func(dc any) error {
		rows, err := dc.(driver.QueryerContext).QueryContext(ctx, q, nil)
		if err != nil {
			return err
		}
		defer rows.Close()
		ct, _ := rows.(driver.RowsColumnTypeDatabaseTypeName)
		dest := make([]driver.Value, ncols)
		if err := rows.Next(dest); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		for i, v := range dest {
			k := kindString
			if ct != nil {
				k = kindOf(ct.ColumnTypeDatabaseTypeName(i))
			}
			b, err := appendDriverValue(nil, v, k)
			if err != nil {
				return err
			}
			out = append(out, string(b))
		}
		for rows.Next(dest) == nil { // drain (LIMIT 1)
		}
		return nil
	})
	return out, err
}

func pkList(t *tableMeta) string {
	s := make([]string, len(t.PK))
	for i, c := range t.PK {
		s[i] = QuoteIdent(c.Name)
	}
	return strings.Join(s, ",")
}

// keysetGT is (k1,…,kn) > (v1,…,vn) spelled out so that every server
// uses a range scan: k1>v1 OR (k1=v1 AND k2>v2) OR …
func keysetGT(pk []colMeta, v []string) string { return keysetCmp(pk, v, ">", false) }

// keysetLE is (k1,…,kn) <= (v1,…,vn).
func keysetLE(pk []colMeta, v []string) string { return keysetCmp(pk, v, "<", true) }

func keysetCmp(pk []colMeta, v []string, op string, orEqual bool) string {
	var terms []string
	for i := range pk {
		var t []string
		for j := 0; j < i; j++ {
			t = append(t, QuoteIdent(pk[j].Name)+" = "+v[j])
		}
		o := op
		if orEqual && i == len(pk)-1 {
			o += "="
		}
		t = append(t, QuoteIdent(pk[i].Name)+" "+o+" "+v[i])
		terms = append(terms, "("+strings.Join(t, " AND ")+")")
	}
	return strings.Join(terms, " OR ")
}

// selectList is the column list read for t (FLOAT columns widened to DOUBLE
// so that they are printed exactly).
func (d *dumper) selectList(t *tableMeta) string {
	s := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		s[i] = QuoteIdent(c.Name)
		if isFloatType(c.DataType) && d.srv.castFloat() {
			s[i] = "CAST(" + s[i] + " AS DOUBLE)"
		}
	}
	return strings.Join(s, ",")
}

func insertHead(t *tableMeta) string {
	s := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		s[i] = QuoteIdent(c.Name)
	}
	return "INSERT INTO " + QuoteIdent(t.Name) + " (" + strings.Join(s, ",") + ") VALUES "
}

// dumpPart reads one table range on c and sends its SQL, compressed in
// frames, on p.frames. It returns the number of rows.
func (d *dumper) dumpPart(ctx context.Context, c *sql.Conn, p *part) (int64, error) {
	t := p.tbl
	what := fmt.Sprintf("table %s.%s", QuoteIdent(t.DB), QuoteIdent(t.Name))
	inTx := true
	if _, err := c.ExecContext(ctx, "SAVEPOINT ops_sp"); err != nil {
		return 0, fmt.Errorf("%s: SAVEPOINT: %w", what, err)
	}
	q := "SELECT " + d.selectList(t) + " FROM " + QuoteIdent(t.DB) + "." + QuoteIdent(t.Name)
	if p.where != "" {
		q += " WHERE " + p.where
	}
	if p.order != "" && p.where != "" {
		q += " ORDER BY " + p.order
	}
	head := insertHead(t)
	raw := d.getBuf()
	if p.first {
		raw = append(raw, "\n--\n-- Data of table "+QuoteIdent(t.Name)+"\n--\n"...)
	}
	var rows int64
	send := func() error {
		if len(raw) == 0 {
			return nil
		}
		d.rawBytes.Add(int64(len(raw)))
		f, err := d.codec.Compress(d.getFrame(), raw)
		if err != nil {
			return fmt.Errorf("compress: %w", err)
		}
		raw = raw[:0]
		select {
		case p.frames <- f:
			return nil
		case <-ctx.Done():
			d.putFrame(f)
			return context.Cause(ctx)
		}
	}
	err := c.Raw(func(dc any) error {
		qr, err := dc.(driver.QueryerContext).QueryContext(ctx, q, nil)
		if err != nil {
			return err
		}
		defer qr.Close()
		cols := qr.Columns()
		kinds := make([]valueKind, len(cols))
		if ct, ok := qr.(driver.RowsColumnTypeDatabaseTypeName); ok {
			for i := range cols {
				kinds[i] = kindOf(ct.ColumnTypeDatabaseTypeName(i))
			}
		}
		dest := make([]driver.Value, len(cols))
		var row []byte
		stmtLen := 0 // bytes of the current INSERT, 0 = none open
		for {
			err := qr.Next(dest)
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
			row = append(row[:0], '(')
			for i, v := range dest {
				if i > 0 {
					row = append(row, ',')
				}
				if row, err = appendDriverValue(row, v, kinds[i]); err != nil {
					return fmt.Errorf("column %s: %w", QuoteIdent(cols[i]), err)
				}
			}
			row = append(row, ')')
			if stmtLen > 0 && stmtLen+1+len(row)+2 > d.stmtCap {
				raw = append(raw, ";\n"...)
				stmtLen = 0
				if len(raw) >= frameBytes {
					if err := send(); err != nil {
						return err
					}
				}
			}
			if stmtLen == 0 {
				raw = append(raw, head...)
				stmtLen = len(head)
			} else {
				raw = append(raw, ',')
				stmtLen++
			}
			raw = append(raw, row...)
			stmtLen += len(row)
			rows++
		}
		if stmtLen > 0 {
			raw = append(raw, ";\n"...)
		}
		return nil
	})
	if err == nil {
		err = send()
	}
	d.putBuf(raw)
	if err != nil {
		if c := context.Cause(ctx); c != nil {
			return rows, c
		}
		return rows, fmt.Errorf("%s: read rows: %w", what, err)
	}
	if inTx {
		if _, err := c.ExecContext(ctx, "ROLLBACK TO SAVEPOINT ops_sp"); err != nil {
			return rows, fmt.Errorf("%s: ROLLBACK TO SAVEPOINT: %w", what, err)
		}
	}
	return rows, nil
}

// checksums runs CHECKSUM TABLE for every table on the reading connections,
// which still hold the dump's snapshot: InnoDB answers it from the
// transaction's read view, so the values describe exactly the dumped rows
// even while writers change the tables.
func (d *dumper) checksums(ctx context.Context, metas []*dbMeta) (map[*tableMeta]*uint64, error) {
	var tables []*tableMeta
	for _, m := range metas {
		tables = append(tables, m.Tables...)
	}
	out := make(map[*tableMeta]*uint64, len(tables))
	var mu sync.Mutex
	work := make(chan *tableMeta)
	errc := make(chan error, len(d.workers))
	var wg sync.WaitGroup
	for _, c := range d.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range work {
				var name string
				var sum sql.NullString
				q := "CHECKSUM TABLE " + QuoteIdent(t.DB) + "." + QuoteIdent(t.Name)
				if err := c.QueryRowContext(ctx, q).Scan(&name, &sum); err != nil {
					errc <- fmt.Errorf("CHECKSUM TABLE %s.%s: %w", t.DB, t.Name, err)
					return
				}
				if !sum.Valid {
					continue // the engine cannot checksum (or the table vanished)
				}
				v, err := strconv.ParseUint(sum.String, 10, 64)
				if err != nil {
					continue
				}
				mu.Lock()
				out[t] = &v
				mu.Unlock()
			}
		}()
	}
	var err error
loop:
	for _, t := range tables {
		select {
		case work <- t:
		case err = <-errc:
			break loop
		case <-ctx.Done():
			err = context.Cause(ctx)
			break loop
		}
	}
	close(work)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errc:
		default:
		}
	}
	return out, err
}
