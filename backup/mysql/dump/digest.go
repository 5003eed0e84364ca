package dump

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
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
	return DigestIn(ctx, conns, databases)
}

// DigestIn is DigestTables in sessions the caller opened (at least one),
// for instance sessions that hold consistent snapshots at a physical
// backup's point: they read the tables as those snapshots see them. The
// sessions' time zone, sql_mode and result character set are changed
// (as the dumper's), nothing else.
func DigestIn(ctx context.Context, conns []*sql.Conn, databases []string) (map[TableRef]TableDigest, error) {
	return readIn(ctx, conns, databases, false)
}

// CountIn is DigestIn without the digests: each table's rows are counted
// (COUNT(*): the server reads its smallest index), at a fraction of the
// cost of reading every row.
func CountIn(ctx context.Context, conns []*sql.Conn, databases []string) (map[TableRef]TableDigest, error) {
	return readIn(ctx, conns, databases, true)
}

func readIn(ctx context.Context, conns []*sql.Conn, databases []string, countOnly bool) (map[TableRef]TableDigest, error) {
	if len(conns) == 0 {
		return nil, fmt.Errorf("digest: no session to read in")
	}
	srv, err := conn.ReadServerInfo(ctx, conns[0])
	if err != nil {
		return nil, err
	}
	var tables []*schema.TableMeta
	for _, name := range databases {
		m, _, err := schema.ReadTables(ctx, conns[0], name, func(string, string) bool { return false })
		if err != nil {
			return nil, err
		}
		tables = append(tables, m.Tables...)
	}
	out := make(map[TableRef]TableDigest, len(tables))
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
				var sum uint64
				from := " FROM " + sqltext.QuoteIdent(t.DB) + "." + sqltext.QuoteIdent(t.Name)
				if countOnly {
					if err = c.QueryRowContext(ctx, "SELECT COUNT(*)"+from).Scan(&d.Rows); err != nil {
						err = fmt.Errorf("counting the rows of %s.%s: %w", sqltext.QuoteIdent(t.DB), sqltext.QuoteIdent(t.Name), err)
						continue
					}
					mu.Lock()
					out[TableRef{t.DB, t.Name}] = d
					mu.Unlock()
					continue
				}
				q := "SELECT " + selectList(srv, t) + from
				if err = readRows(ctx, c, q, func(row []byte) error {
					d.Rows++
					sum += rowHash(row)
					return nil
				}); err != nil {
					err = fmt.Errorf("reading %s.%s: %w", sqltext.QuoteIdent(t.DB), sqltext.QuoteIdent(t.Name), err)
					continue
				}
				d.Digest = formatDigest(sum)
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
		return nil, first
	}
	if err := ctx.Err(); err != nil {
		return nil, err
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
