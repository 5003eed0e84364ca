package dump

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opsteam/ops/backup/mysql/conn"
	"github.com/opsteam/ops/backup/mysql/mysqltest"
	"github.com/opsteam/ops/backup/mysql/restore"
	"github.com/opsteam/ops/backup/mysql/sqltext"
	"github.com/opsteam/ops/internal/testenv"
)

// TestConsistencyUnderWrites dumps two databases with 2 threads and small
// primary-key chunks while writers move amounts between rows of two tables
// in two databases (and insert rows counted in a third table), each change
// in one transaction. The restored data must satisfy the invariants
// exactly: any mix of snapshots (between threads, chunks, tables or
// databases) breaks them.
func TestConsistencyUnderWrites(t *testing.T) {
	testenv.RequireIT(t)
	base := mysqltest.UniqueName("ops_it_cons_")
	d1, d2 := base+"_1", base+"_2"
	src, tgtM, tgt := mysqltest.Servers(t, d1, d2)
	const rows, initial = 20000, 1000
	s := mysqltest.NewSession(t, src)
	s.Exec("CREATE DATABASE "+sqltext.QuoteIdent(d1), "CREATE DATABASE "+sqltext.QuoteIdent(d2),
		"USE "+sqltext.QuoteIdent(d1),
		fmt.Sprintf("CREATE TABLE %s.acc (id INT PRIMARY KEY, amt BIGINT NOT NULL, pad CHAR(50) NOT NULL DEFAULT 'p')", sqltext.QuoteIdent(d1)),
		fmt.Sprintf("CREATE TABLE %s.acc (id INT PRIMARY KEY, amt BIGINT NOT NULL, pad CHAR(50) NOT NULL DEFAULT 'p')", sqltext.QuoteIdent(d2)),
		fmt.Sprintf("CREATE TABLE %s.meta (k INT PRIMARY KEY, inserted BIGINT NOT NULL)", sqltext.QuoteIdent(d2)),
		fmt.Sprintf("INSERT INTO %s.meta VALUES (1, 0)", sqltext.QuoteIdent(d2)),
		fmt.Sprintf("INSERT INTO %s.acc (id, amt) SELECT seq, %d FROM seq_1_to_%d", sqltext.QuoteIdent(d1), initial, rows),
		fmt.Sprintf("INSERT INTO %s.acc (id, amt) SELECT seq, %d FROM seq_1_to_%d", sqltext.QuoteIdent(d2), initial, rows))
	const total = 2 * rows * initial
	tables := []string{sqltext.QuoteIdent(d1) + ".acc", sqltext.QuoteIdent(d2) + ".acc"}

	ctx, stop := context.WithCancel(context.Background())
	var commits atomic.Int64
	var wg sync.WaitGroup
	var nextID atomic.Int64
	nextID.Store(rows + 1)
	writerErr := make(chan error, 8)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 42))
			for ctx.Err() == nil {
				if err := oneTransfer(ctx, src, r, tables, d2, rows, &nextID); err != nil {
					if n := conn.ErrNo(err); n == 1213 || n == 1205 {
						continue // deadlock between writers: rolled back, try again
					}
					if ctx.Err() == nil {
						writerErr <- err
					}
					return
				}
				commits.Add(1)
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)

	for _, mode := range []string{ConsistencyAuto, ConsistencyNoLock} {
		t.Run(mode, func(t *testing.T) {
			before := commits.Load()
			var dumpOut bytes.Buffer
			res, err := Dump(context.Background(), DumpOptions{MySQL: mysqltest.SrcMySQL(), Databases: []string{d1, d2}, Threads: 2,
				ChunkRows: 700, Compression: "gzip", Consistency: mode, Checksums: true}, &dumpOut)
			if err != nil {
				t.Fatalf("Dump: %v", err)
			}
			during := commits.Load() - before
			t.Logf("mode %s: %d transactions committed during the dump (%s, %d bytes)", res.ConsistencyMode, during, res.FinishedAt.Sub(res.StartedAt), res.RawBytes)
			if during == 0 {
				t.Errorf("no writes happened during the dump: the test proves nothing")
			}
			mysqltest.DropDatabases(t, tgt, d1, d2)
			if _, err := restore.Restore(context.Background(), restore.RestoreOptions{Threads: 2, MySQL: tgtM}, bytes.NewReader(dumpOut.Bytes())); err != nil {
				t.Fatalf("Restore: %v", err)
			}
			ts := mysqltest.NewSession(t, tgt)
			sum1, _ := strconv.ParseInt(ts.One("SELECT SUM(amt) FROM "+tables[0]), 10, 64)
			sum2, _ := strconv.ParseInt(ts.One("SELECT SUM(amt) FROM "+tables[1]), 10, 64)
			if sum1+sum2 != total {
				t.Errorf("restored total = %d + %d = %d, want %d (snapshot not consistent)", sum1, sum2, sum1+sum2, total)
			}
			n1, _ := strconv.ParseInt(ts.One("SELECT COUNT(*) FROM "+tables[0]), 10, 64)
			n2, _ := strconv.ParseInt(ts.One("SELECT COUNT(*) FROM "+tables[1]), 10, 64)
			ins, _ := strconv.ParseInt(ts.One("SELECT inserted FROM "+sqltext.QuoteIdent(d2)+".meta"), 10, 64)
			if n1+n2 != 2*rows+ins {
				t.Errorf("restored rows = %d + %d, want %d + %d inserted (snapshot not consistent)", n1, n2, 2*rows, ins)
			}
			var dumped int64
			for _, ts := range res.Tables {
				if ts.Name == "acc" {
					dumped += ts.Rows
				}
			}
			if dumped != n1+n2 {
				t.Errorf("DumpResult rows = %d, restored %d", dumped, n1+n2)
			}
			// The digest added up while the rows streamed through the
			// dumper, in parallel parts, while writers ran, equals the digest
			// of the restored tables read afresh.
			var dbs []string
			for _, st := range res.Tables {
				if !slices.Contains(dbs, st.Database) {
					dbs = append(dbs, st.Database)
				}
			}
			got, err := DigestTables(context.Background(), tgtM, nil, dbs, 2)
			if err != nil {
				t.Fatal(err)
			}
			for _, st := range res.Tables {
				g := got[TableRef{st.Database, st.Name}]
				if st.Digest == "" || g.Digest != st.Digest || g.Rows != st.Rows {
					t.Errorf("%s.%s: snapshot digest %q (%d rows), restored %q (%d rows)", st.Database, st.Name, st.Digest, st.Rows, g.Digest, g.Rows)
				}
			}
		})
	}
	stop()
	wg.Wait()
	select {
	case err := <-writerErr:
		t.Fatalf("writer: %v", err)
	default:
	}
	t.Logf("%d transactions in total", commits.Load())
}

// oneTransfer moves an amount between two random rows of the two tables, or
// splits an amount off into a new row (counted in meta.inserted).
func oneTransfer(ctx context.Context, db *sql.DB, r *rand.Rand, tables []string, metaDB string, rows int, nextID *atomic.Int64) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck
	from, to := tables[r.IntN(2)], tables[r.IntN(2)]
	a, b := 1+r.IntN(rows), 1+r.IntN(rows)
	amt := 1 + r.IntN(50)
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("UPDATE %s SET amt = amt - %d WHERE id = %d", from, amt, a)); err != nil {
		return err
	}
	if r.IntN(10) == 0 {
		id := nextID.Add(1)
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("INSERT INTO %s (id, amt) VALUES (%d, %d)", to, id, amt)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE "+sqltext.QuoteIdent(metaDB)+".meta SET inserted = inserted + 1 WHERE k = 1"); err != nil {
			return err
		}
	} else if _, err := tx.ExecContext(ctx, fmt.Sprintf("UPDATE %s SET amt = amt + %d WHERE id = %d", to, amt, b)); err != nil {
		return err
	}
	return tx.Commit()
}
