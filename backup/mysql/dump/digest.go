package dump

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/cespare/xxhash/v2"
	"github.com/opsteam/ops/backup/mysql/conn"
	"github.com/opsteam/ops/backup/mysql/schema"
	"github.com/opsteam/ops/backup/mysql/sqltext"
)

// A table's content digest is the sum (modulo 2^64) of the XXH64 hashes of
// its rows, each row rendered as the dump renders it: the SQL tuple
// "(v1,v2,…)" of the values read in the dump's session (UTC, binary-safe
// literals). A sum does not depend on the order of the rows, so the
// dumper adds it up while the rows of the table's parts stream through it,
// in parallel and in any order, without a second read; DigestTables reads
// a restored copy the same way. Like CHECKSUM TABLE, which it replaces, it
// detects changed, missing and extra rows; unlike it, it costs the dump
// nothing and does not depend on the storage engine.

// DigestPrefix names the digest algorithm in its text form.
const DigestPrefix = "xxh64sum:"

func rowHash(row []byte) uint64 { return xxhash.Sum64(row) }

func formatDigest(sum uint64) string { return DigestPrefix + fmt.Sprintf("%016x", sum) }

// TableRef names a table.
type TableRef struct{ Database, Name string }

// TableDigest is what DigestTables found in a table.
type TableDigest struct {
	Rows   int64
	Digest string
}

// DigestTables computes the content digest and row count of every table of
// the given databases, reading each table once (threads connections in
// parallel: at least 1), in a session set up like the dumper's.
func DigestTables(ctx context.Context, cfg conn.Config, logger *slog.Logger, databases []string, threads int) (map[TableRef]TableDigest, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if threads < 1 {
		return nil, fmt.Errorf("digest: %d connections: at least 1 is needed (the job's threads)", threads)
	}
	db, err := conn.Connect(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	conns := make([]*sql.Conn, 0, threads)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range threads {
		c, err := db.Conn(ctx)
		if err != nil {
			return nil, err
		}
		conns = append(conns, c)
	}
	out, _, err := readIn(ctx, conns, databases, false, nil)
	return out, err
}

// DigestIn is DigestTables in sessions the caller opened (at least one)
// that hold consistent snapshots at one point (a physical backup's), whose
// server clock read no earlier than the point is since (UNIX seconds). The
// InnoDB tables are read as those snapshots see them. Left out, and listed
// in skipped: the other engines' tables (a snapshot does not hold their
// rows), and every table created, altered or renamed since (its
// information_schema CREATE_TIME is then since or later; the column list
// read now would not be the point's). The sessions' time zone, sql_mode
// and result character set are changed (as the dumper's), nothing else.
func DigestIn(ctx context.Context, conns []*sql.Conn, databases []string, since int64) (map[TableRef]TableDigest, []TableRef, error) {
	return readIn(ctx, conns, databases, false, &since)
}

// CountIn is DigestIn without the digests: each table's rows are counted
// (COUNT(*): the server reads its smallest index), at a fraction of the
// cost of reading every row.
func CountIn(ctx context.Context, conns []*sql.Conn, databases []string, since int64) (map[TableRef]TableDigest, []TableRef, error) {
	return readIn(ctx, conns, databases, true, &since)
}

// readTable counts, or digests, one table in session c.
func readTable(ctx context.Context, c *sql.Conn, srv conn.ServerInfo, t *schema.TableMeta, countOnly bool) (TableDigest, error) {
	var d TableDigest
	from := " FROM " + sqltext.QuoteIdent(t.DB) + "." + sqltext.QuoteIdent(t.Name)
	if countOnly {
		if err := c.QueryRowContext(ctx, "SELECT COUNT(*)"+from).Scan(&d.Rows); err != nil {
			return d, fmt.Errorf("counting the rows of %s.%s: %w", sqltext.QuoteIdent(t.DB), sqltext.QuoteIdent(t.Name), err)
		}
		return d, nil
	}
	var sum uint64
	if err := readRows(ctx, c, "SELECT "+selectList(srv, t)+from, func(row []byte) error {
		d.Rows++
		sum += rowHash(row)
		return nil
	}); err != nil {
		return d, fmt.Errorf("reading %s.%s: %w", sqltext.QuoteIdent(t.DB), sqltext.QuoteIdent(t.Name), err)
	}
	d.Digest = formatDigest(sum)
	return d, nil
}

// readIn reads every table of databases in conns; since, when not nil,
// says they hold consistent snapshots (DigestIn).
func readIn(ctx context.Context, conns []*sql.Conn, databases []string, countOnly bool, since *int64) (_ map[TableRef]TableDigest, skipped []TableRef, _ error) {
	snapshot := since != nil
	if len(conns) == 0 {
		return nil, nil, fmt.Errorf("digest: no session to read in")
	}
	srv, err := conn.ReadServerInfo(ctx, conns[0])
	if err != nil {
		return nil, nil, err
	}
	tables, skipped, err := listTables(ctx, conns[0], databases, snapshot)
	if err != nil {
		return nil, nil, err
	}
	out := make(map[TableRef]TableDigest, len(tables))
	failed := map[TableRef]error{}
	var mu sync.Mutex
	var first error
	work := make(chan *schema.TableMeta)
	var wg sync.WaitGroup
	for _, c := range conns[:min(len(conns), max(1, len(tables)))] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.ExecContext(ctx, "SET SESSION time_zone = '+00:00', sql_mode = '', character_set_results = utf8mb4")
			for t := range work {
				if err != nil {
					continue
				}
				var d TableDigest
				if d, err = readTable(ctx, c, srv, t, countOnly); err != nil {
					if !snapshot {
						continue
					}
					// A table changed since the point cannot always be read
					// in the snapshot (ER_TABLE_DEF_CHANGED, a dropped
					// column): kept aside until the changed tables are
					// known, provided the snapshot itself goes on.
					var in int
					if e := c.QueryRowContext(ctx, "SELECT @@in_transaction").Scan(&in); e != nil || in != 1 {
						err = fmt.Errorf("%w (and the snapshot did not survive it: %v)", err, e)
						continue
					}
					mu.Lock()
					failed[TableRef{t.DB, t.Name}] = err
					mu.Unlock()
					err = nil
					continue
				}
				mu.Lock()
				out[TableRef{t.DB, t.Name}] = d
				mu.Unlock()
			}
			if err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	for _, t := range tables {
		select {
		case work <- t:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(work)
	wg.Wait()
	if first != nil {
		return nil, nil, first
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if snapshot {
		changed, err := changedSince(ctx, conns[0], databases, *since)
		if err != nil {
			return nil, nil, err
		}
		if skipped, err = leaveOutChanged(out, failed, changed, skipped); err != nil {
			return nil, nil, err
		}
	}
	return out, skipped, nil
}

// listTables lists the tables of databases to read; in snapshots, those
// of engines other than InnoDB are returned in skipped instead: a
// snapshot sees InnoDB's rows as of its point, other engines' (Aria,
// MyISAM) only as they are when read.
func listTables(ctx context.Context, c *sql.Conn, databases []string, snapshot bool) (tables []*schema.TableMeta, skipped []TableRef, _ error) {
	for _, name := range databases {
		m, _, err := schema.ReadTables(ctx, c, name, func(string, string) bool { return false })
		if err != nil {
			return nil, nil, err
		}
		for _, t := range m.Tables {
			if snapshot && !strings.EqualFold(t.Engine, "InnoDB") {
				skipped = append(skipped, TableRef{t.DB, t.Name})
				continue
			}
			tables = append(tables, t)
		}
	}
	return tables, skipped, nil
}

// leaveOutChanged moves the tables changed since the point from out (read)
// and failed (not readable) to skipped; a table that failed and did not
// change is an error.
func leaveOutChanged(out map[TableRef]TableDigest, failed map[TableRef]error, changed, skipped []TableRef) ([]TableRef, error) {
	for _, ref := range changed {
		if _, read := out[ref]; read || failed[ref] != nil {
			delete(out, ref)
			delete(failed, ref)
			skipped = append(skipped, ref)
		}
	}
	if len(failed) > 0 {
		refs := slices.SortedFunc(maps.Keys(failed), func(a, b TableRef) int {
			return cmp.Or(cmp.Compare(a.Database, b.Database), cmp.Compare(a.Name, b.Name))
		})
		return nil, fmt.Errorf("%w (%s.%s was not changed since the backup's point)", failed[refs[0]], sqltext.QuoteIdent(refs[0].Database), sqltext.QuoteIdent(refs[0].Name))
	}
	return skipped, nil
}

// changedSince lists the tables of databases whose definition was written
// at since or later (CREATE_TIME: CREATE, ALTER, RENAME, TRUNCATE all
// renew it), or has no such time.
func changedSince(ctx context.Context, c *sql.Conn, databases []string, since int64) ([]TableRef, error) {
	var out []TableRef
	for _, db := range databases {
		rows, err := c.QueryContext(ctx, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' AND (CREATE_TIME IS NULL OR UNIX_TIMESTAMP(CREATE_TIME) >= ?)", db, since)
		if err != nil {
			return nil, fmt.Errorf("listing the tables changed since the backup's point: %w", err)
		}
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err != nil {
				rows.Close()
				return nil, err
			}
			out = append(out, TableRef{db, name})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ParseDigest checks a digest's text form.
func ParseDigest(s string) (uint64, error) {
	hexPart, ok := strings.CutPrefix(s, DigestPrefix)
	if !ok || len(hexPart) != 16 {
		return 0, fmt.Errorf("digest %q: expected %s and 16 hex digits", s, DigestPrefix)
	}
	return strconv.ParseUint(hexPart, 16, 64)
}
