package physical

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/opsteam/ops/backup/mysql/conn"
)

// A physical backup is consistent at one point: the moment mariadb-backup
// holds commits (BACKUP STAGE BLOCK_COMMIT), reads the binary log position
// and the redo log's end. To record what every table holds at that point
// (row counts and content digests, which verify --restore-test compares
// with a restored copy), ops opens read-only consistent snapshots in
// sessions of its own while mariadb-backup holds commits, and keeps them
// only if they are provably at the backup's point: MariaDB reports the
// binary log position a snapshot sees (binlog_snapshot_file/_position),
// and every commit moves it, so a snapshot whose position is the one
// mariadb-backup recorded sees exactly the backup's transactions. Without
// a binary log there is no such proof and no snapshot is kept.

// blockCommitLine is what mariadb-backup writes to stderr once it holds
// commits (10.11 and later).
var blockCommitLine = []byte("Acquired locks for BACKUP STAGE BLOCK_COMMIT")

// Snapshot is a set of sessions in read-only consistent snapshots at the
// backup's point (Result.Snapshot). Close ends them.
type Snapshot struct {
	Conns []*sql.Conn
	// At is the server's clock (UNIX seconds, rounded down) read in the
	// snapshots as they opened: no earlier than the backup's point, and no
	// table definition changed between the point and then (DDL is in the
	// binary log, whose position did not move).
	At int64
	db *sql.DB
}

// Close ends the snapshots and closes the sessions.
func (s *Snapshot) Close() {
	if s == nil {
		return
	}
	for _, c := range s.Conns {
		_, _ = c.ExecContext(context.Background(), "ROLLBACK")
		c.Close()
	}
	if s.db != nil {
		s.db.Close()
	}
}

// snapshotter prepares n sessions before mariadb-backup starts, opens their
// snapshots when it sees blockCommitLine and, once mariadb-backup has
// ended, keeps them if their position is the backup's.
type snapshotter struct {
	snap *Snapshot
	mu   sync.Mutex
	pos  []BinlogInfo // each session's snapshot position, once opened
	at   []int64      // each session's clock then
	err  error        // why there is no usable snapshot
	line []byte       // stderr not yet split into lines
	seen bool
	// opened is closed when open has returned (made once seen).
	opened chan struct{}
}

// newSnapshotter connects n sessions; nil and the reason when the server
// cannot give a provable snapshot (no binary log).
func newSnapshotter(ctx context.Context, m conn.Config, logger *slog.Logger, n int) (*snapshotter, string, error) {
	db, err := conn.Connect(ctx, m, logger)
	if err != nil {
		return nil, "", err
	}
	var logBin int
	if err := db.QueryRowContext(ctx, "SELECT @@log_bin").Scan(&logBin); err != nil {
		db.Close()
		return nil, "", fmt.Errorf("reading @@log_bin: %w", err)
	}
	if logBin == 0 {
		db.Close()
		return nil, "the server's binary log is off, so no snapshot can be proven to be at the backup's point", nil
	}
	s := &snapshotter{snap: &Snapshot{db: db}}
	for range n {
		c, err := db.Conn(ctx)
		if err == nil {
			// The sessions wait through the whole copy, which may take
			// longer than the server's wait_timeout (8 h by default).
			_, err = c.ExecContext(ctx, "SET SESSION wait_timeout = 31536000")
		}
		if err != nil {
			s.snap.Close()
			return nil, "", err
		}
		s.snap.Conns = append(s.snap.Conns, c)
	}
	return s, "", nil
}

// Write watches mariadb-backup's stderr for blockCommitLine.
func (s *snapshotter) Write(p []byte) (int, error) {
	if s.seen {
		return len(p), nil
	}
	s.line = append(s.line, p...)
	for {
		i := bytes.IndexByte(s.line, '\n')
		if i < 0 {
			break
		}
		if bytes.Contains(s.line[:i], blockCommitLine) {
			// Never in the stderr reader's way: mariadb-backup holds every
			// commit of the server until it is done, and must not wait
			// for ops to read what it says.
			s.seen, s.opened = true, make(chan struct{})
			go func() {
				defer close(s.opened)
				s.open()
			}()
			s.line = nil
			break
		}
		s.line = s.line[i+1:]
	}
	if len(s.line) > 1<<16 { // no newline in 64 KiB: not a log line worth keeping
		s.line = nil
	}
	return len(p), nil
}

// openTimeout bounds opening the snapshots (a snapshot that takes longer
// is not at the point anyway).
const openTimeout = 30 * time.Second

// open starts every session's snapshot at once and reads its position.
func (s *snapshotter) open() {
	ctx, cancel := context.WithTimeout(context.Background(), openTimeout)
	defer cancel()
	s.pos, s.at = make([]BinlogInfo, len(s.snap.Conns)), make([]int64, len(s.snap.Conns))
	var wg sync.WaitGroup
	for i, c := range s.snap.Conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, at, err := openSnapshot(ctx, c)
			s.mu.Lock()
			defer s.mu.Unlock()
			if err != nil && s.err == nil {
				s.err = err
			}
			s.pos[i], s.at[i] = p, at
		}()
	}
	wg.Wait()
}

func openSnapshot(ctx context.Context, c *sql.Conn) (BinlogInfo, int64, error) {
	if _, err := c.ExecContext(ctx, "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"); err != nil {
		return BinlogInfo{}, 0, fmt.Errorf("opening a consistent snapshot: %w", err)
	}
	var at int64
	if err := c.QueryRowContext(ctx, "SELECT UNIX_TIMESTAMP()").Scan(&at); err != nil {
		return BinlogInfo{}, 0, fmt.Errorf("reading the server's clock: %w", err)
	}
	p, err := snapshotPosition(ctx, c)
	return p, at, err
}

// snapshotPosition reads the binary log position session c's snapshot
// sees.
func snapshotPosition(ctx context.Context, c *sql.Conn) (BinlogInfo, error) {
	rows, err := c.QueryContext(ctx, "SHOW SESSION STATUS WHERE Variable_name IN ('binlog_snapshot_file', 'binlog_snapshot_position')")
	if err != nil {
		return BinlogInfo{}, fmt.Errorf("reading the snapshot's binary log position: %w", err)
	}
	defer rows.Close()
	var p BinlogInfo
	n := 0
	for rows.Next() {
		n++
		var name, value string
		if err := rows.Scan(&name, &value); err != nil {
			return BinlogInfo{}, err
		}
		switch strings.ToLower(name) {
		case "binlog_snapshot_file":
			p.File = path.Base(value)
		case "binlog_snapshot_position":
			if p.Pos, err = strconv.ParseUint(value, 10, 64); err != nil {
				return BinlogInfo{}, fmt.Errorf("binlog_snapshot_position %q: %w", value, err)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return BinlogInfo{}, err
	}
	if n != 2 || p.File == "" {
		return BinlogInfo{}, fmt.Errorf("the server reports no binary log position for a snapshot (binlog_snapshot_file, binlog_snapshot_position)")
	}
	return p, nil
}

// result returns the snapshot when every session's position is at, the
// backup's, else nil and why (the sessions are then closed).
func (s *snapshotter) result(at BinlogInfo) (*Snapshot, string) {
	if s.opened != nil {
		<-s.opened
	}
	why := ""
	switch {
	case !s.seen:
		why = fmt.Sprintf("mariadb-backup never said %q", blockCommitLine)
	case s.err != nil:
		why = s.err.Error()
	case at.File == "":
		why = "mariadb-backup recorded no binary log position"
	default:
		for _, p := range s.pos {
			if p.File != path.Base(at.File) || p.Pos != at.Pos {
				why = fmt.Sprintf("a snapshot opened at %s:%d, after the backup's point %s:%d (commits resumed first)", p.File, p.Pos, at.File, at.Pos)
				break
			}
		}
	}
	if why != "" {
		s.snap.Close()
		return nil, why
	}
	if len(s.at) > 0 {
		s.snap.At = slices.Min(s.at)
	}
	return s.snap, ""
}
