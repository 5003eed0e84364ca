package dump

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opsteam/ops/backup/compress"
	"github.com/opsteam/ops/backup/mysql/conn"
	"github.com/opsteam/ops/backup/mysql/schema"
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

// DumpOptions configures Dump.
type DumpOptions struct {
	MySQL            conn.Config
	Databases        []string        // empty: every database except information_schema, performance_schema, sys, mysql
	ExcludeTables    []string        // "db.table" glob patterns (path.Match syntax)
	Threads          int             // reading connections: at least 1 (the job's threads)
	Compression      compress.Method // zstd (default) | gzip | none
	CompressionLevel int             // 0 = default: zstd level 1 (fastest), gzip level 6; zstd 1-22, gzip 1-9
	ChunkRows        int64           // rows per primary-key range (0 = automatic, ~16 MiB of rows)
	// MaxStatementBytes caps each extended INSERT (default 1 MiB); never
	// above the server's max_allowed_packet minus 1 KiB.
	MaxStatementBytes int
	// Consistency is auto (default), lock or nolock; see the constants.
	Consistency string
	Logger      *slog.Logger
	// Checksums records each table's content digest (TableStat.Digest),
	// computed from the rows as they stream through the dumper: no second
	// read of the table. DigestTables computes the same digest over a
	// restored copy, so a restore can be compared with exactly what the
	// snapshot held.
	Checksums bool
	// Progress, if set, is called from the writing goroutine after each
	// part of the stream has been written.
	Progress func(Progress)
	// Planned, if set, is called once the tables to dump are known, before
	// any part is written, with the server's estimate of each one's size.
	Planned func([]TableEstimate)
}

// Progress reports dump progress.
type Progress struct {
	Database, Table string // the part just written ("" for schema parts)
	RawBytes        int64  // uncompressed SQL written so far
	StoredBytes     int64  // bytes written to the sink so far
	PartBytes       int64  // uncompressed SQL of the part just written
	PartRows        int64  // rows of the part just written
	Ended           string // the table of Database whose data this part ends ("" if none)
}

// TableEstimate is the server's estimate of a table's size at plan time
// (information_schema.TABLES: DATA_LENGTH and TABLE_ROWS; InnoDB's are
// estimates, and the SQL text is larger or smaller than the data).
type TableEstimate struct {
	Database, Table string
	Bytes, Rows     int64
}

// TableStat is the row count of one dumped table.
type TableStat struct {
	Database string `json:"database"`
	Name     string `json:"name"`
	Rows     int64  `json:"rows"`
	// Digest is the content digest of the rows as dumped (DumpOptions.Checksums;
	// see DigestTables).
	Digest string `json:"digest,omitempty"`
}

// DumpResult describes a finished dump.
type DumpResult struct {
	ServerVersion   string `json:"server_version"`
	ConsistencyMode string `json:"consistency_mode"`
	BinlogFile      string `json:"binlog_file,omitempty"`
	BinlogPos       uint64 `json:"binlog_pos,omitempty"`
	GTID            string `json:"gtid,omitempty"`
	// SnapshotAt is the server's clock just after the snapshot and its
	// binary log position were established: every event before the
	// position has an earlier timestamp (zero when not known).
	SnapshotAt  time.Time       `json:"snapshot_at,omitzero"`
	LockHeld    time.Duration   `json:"lock_held_ns,omitempty"`
	StartedAt   time.Time       `json:"started_at"`
	FinishedAt  time.Time       `json:"finished_at"`
	Databases   []string        `json:"databases"`
	Tables      []TableStat     `json:"tables"`
	Compression compress.Method `json:"compression"`
	RawBytes    int64           `json:"raw_bytes"`    // uncompressed SQL
	StoredBytes int64           `json:"stored_bytes"` // written to the sink
	// Objects are the views, routines, triggers and events dumped, with
	// their definers (for the manifest: see schema.StoredObjects).
	Objects []schema.StoredObject `json:"objects,omitempty"`
}

const (
	defaultStatementBytes = 1 << 20
	frameBytes            = 2 << 20 // raw SQL per compressed frame
	defaultChunkBytes     = 4 << 20 // target raw size of a primary-key range
	framesPerPart         = 2       // finished frames a part may queue
	sessionTimeout        = 86400   // net_*_timeout, wait_timeout for dump sessions
)

// Dump writes one consistent SQL dump of the selected databases to w. The
// stream (compressed as opts.Compression) recreates and selects every
// database itself, like `mysqldump --databases`, and loads with
// `zstd -dc | mysql` or Restore. Nothing but w is written; on error the
// caller must discard what was written.
func Dump(ctx context.Context, opts DumpOptions, w io.Writer) (*DumpResult, error) {
	d := &Dumper{opts: opts, log: opts.Logger, Res: &DumpResult{StartedAt: time.Now().UTC()}}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.opts.Threads < 1 {
		return nil, fmt.Errorf("dump: %d reading connections: at least 1 is needed (the job's threads)", d.opts.Threads)
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
	d.Res.Compression = d.opts.Compression
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
	d.Res.FinishedAt = time.Now().UTC()
	return d.Res, nil
}

type Dumper struct {
	opts    DumpOptions
	log     *slog.Logger
	Res     *DumpResult
	ctx     context.Context
	db      *sql.DB
	coord   *sql.Conn
	workers []*sql.Conn
	Srv     conn.ServerInfo
	codec   compress.Codec
	stmtCap int

	instanceLock bool
	rawBytes     atomic.Int64
	stored       atomic.Int64
	bufPool      sync.Pool // raw SQL buffers (frameBytes and a bit)
	framePool    sync.Pool // compressed frames (sized by use)
}

func (d *Dumper) cleanup() {
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

func (d *Dumper) excluded(db, table string) bool {
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

func (d *Dumper) sessionSetup(ctx context.Context, c *sql.Conn) error {
	stmts := []string{
		fmt.Sprintf("SET SESSION time_zone = '+00:00', sql_mode = '', character_set_results = utf8mb4, net_write_timeout = %d, net_read_timeout = %d, wait_timeout = %d",
			sessionTimeout, sessionTimeout, sessionTimeout),
		"SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
	}
	if d.Srv.MySQL8() {
		stmts = append(stmts, "SET SESSION information_schema_stats_expiry = 0")
	}
	for _, s := range stmts {
		if _, err := c.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("session setup (%s): %w", s, err)
		}
	}
	return nil
}

func (d *Dumper) run(ctx context.Context, cancel context.CancelCauseFunc, w io.Writer) error {
	var err error
	d.db, err = conn.Connect(ctx, d.opts.MySQL, d.log)
	if err != nil {
		return err
	}
	d.db.SetMaxIdleConns(d.opts.Threads + 2)
	if d.coord, err = d.db.Conn(ctx); err != nil {
		return fmt.Errorf("open connection: %w", err)
	}
	if d.Srv, err = conn.ReadServerInfo(ctx, d.coord); err != nil {
		return err
	}
	d.Res.ServerVersion = d.Srv.Version
	if err := d.sessionSetup(ctx, d.coord); err != nil {
		return err
	}
	d.stmtCap = d.opts.MaxStatementBytes
	if d.stmtCap <= 0 {
		d.stmtCap = defaultStatementBytes
	}
	if d.Srv.MaxPacket > 0 && int64(d.stmtCap) > d.Srv.MaxPacket-1024 {
		d.stmtCap = int(d.Srv.MaxPacket - 1024)
	}

	// Which databases.
	all, err := schema.ListDatabases(ctx, d.coord)
	if err != nil {
		return err
	}
	var dbs []string
	if len(d.opts.Databases) == 0 {
		for _, n := range all {
			if !conn.SystemDatabases[strings.ToLower(n)] {
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
	d.Res.Databases = dbs

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
	if d.Res.BinlogFile != "" {
		d.Res.SnapshotAt = serverNow(ctx, d.coord)
	}
	d.log.Info("dump snapshot established", "mode", d.Res.ConsistencyMode, "binlog_file", d.Res.BinlogFile,
		"binlog_pos", d.Res.BinlogPos, "gtid", d.Res.GTID, "lock_held", d.Res.LockHeld, "threads", len(d.workers))

	// Metadata, inside the coordinator's snapshot.
	var metas []*schema.DBMeta
	for _, n := range dbs {
		m, err := schema.ReadDatabase(ctx, d.coord, n, d.excluded)
		if err != nil {
			return err
		}
		metas = append(metas, m)
		d.Res.Objects = append(d.Res.Objects, schema.StoredObjects(m)...)
	}
	if d.opts.Planned != nil {
		var est []TableEstimate
		for _, m := range metas {
			for _, t := range m.Tables {
				est = append(est, TableEstimate{Database: t.DB, Table: t.Name, Bytes: t.EstBytes, Rows: t.EstRows})
			}
		}
		d.opts.Planned(est)
	}
	if _, err := d.coord.ExecContext(ctx, "SAVEPOINT ops_plan"); err != nil && d.coordInTx() {
		return fmt.Errorf("SAVEPOINT: %w", err)
	}

	if d.codec, err = d.opts.Compression.NewCodec(d.opts.CompressionLevel, len(d.workers)+1); err != nil {
		return err
	}
	return d.stream(ctx, cancel, metas, w)
}
