package restore

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opsteam/ops/backup/mysql/conn"
	"github.com/opsteam/ops/backup/mysql/dump"
	"github.com/opsteam/ops/backup/mysql/mysqltest"
	"github.com/opsteam/ops/backup/mysql/sqltext"
	"github.com/opsteam/ops/internal/testenv"
)

func TestDumpUnknownDatabase(t *testing.T) {
	testenv.RequireIT(t)
	name := mysqltest.UniqueName("ops_it_missing_")
	var out strings.Builder
	_, err := dump.Dump(context.Background(), dump.DumpOptions{Threads: 2, MySQL: mysqltest.SrcMySQL(), Databases: []string{name}}, &out)
	if err == nil || !strings.Contains(err.Error(), name) {
		t.Fatalf("Dump of a missing database: err = %v, want an error naming %s", err, name)
	}
	if out.Len() != 0 {
		t.Errorf("%d bytes written before failing", out.Len())
	}
}

type failingWriter struct {
	n, limit int
}

var errSink = errors.New("disk full (test)")

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.n+len(p) > w.limit {
		return 0, errSink
	}
	w.n += len(p)
	return len(p), nil
}

func TestDumpSinkError(t *testing.T) {
	testenv.RequireIT(t)
	db := mysqltest.FaultDB(t, 50000)
	w := &failingWriter{limit: 100 << 10}
	start := time.Now()
	_, err := dump.Dump(context.Background(), dump.DumpOptions{MySQL: mysqltest.SrcMySQL(), Databases: []string{db}, Threads: 2, ChunkRows: 2000, Compression: "none"}, w)
	if !errors.Is(err, errSink) {
		t.Fatalf("Dump to a failing sink: err = %v, want errors.Is(err, errSink)", err)
	}
	t.Logf("failed after %s: %v", time.Since(start), err)
}

func TestDumpLockWaitTimeout(t *testing.T) {
	testenv.RequireIT(t)
	db := mysqltest.FaultDB(t, 10)
	src := mysqltest.OpenDB(t, mysqltest.SrcMySQL())
	// Another session holds a table lock: FLUSH TABLES WITH READ LOCK waits.
	holder := mysqltest.NewSession(t, src)
	holder.Exec("LOCK TABLES " + sqltext.QuoteIdent(db) + ".t WRITE")
	defer holder.Exec("UNLOCK TABLES")

	m := mysqltest.SrcMySQL()
	m.LockWaitTimeout = 1 * time.Second
	start := time.Now()
	_, err := dump.Dump(context.Background(), dump.DumpOptions{Threads: 2, MySQL: m, Databases: []string{db}, Consistency: dump.ConsistencyAuto}, io.Discard)
	took := time.Since(start)
	if !errors.Is(err, conn.ErrLockWaitTimeout) {
		t.Fatalf("Dump while a table is locked: err = %v, want ErrLockWaitTimeout", err)
	}
	if took > 10*time.Second {
		t.Errorf("gave up after %s; the bound is 1s", took)
	}
	t.Logf("gave up after %s: %v", took, err)
	// The waiting FTWRL was killed: nothing of ours still waits for the lock.
	time.Sleep(200 * time.Millisecond)
	chk := mysqltest.NewSession(t, src)
	if n := chk.One("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'FLUSH TABLES WITH READ LOCK%'"); n != "0" {
		t.Errorf("%s FLUSH TABLES WITH READ LOCK still waiting after the dump failed", n)
	}
	// The lock-free mode does not need the global lock and succeeds
	// (dumping another database; the locked table itself cannot be read).
	other := mysqltest.FaultDB(t, 10)
	res, err := dump.Dump(context.Background(), dump.DumpOptions{Threads: 2, MySQL: m, Databases: []string{other}, Consistency: dump.ConsistencyNoLock}, io.Discard)
	if err != nil {
		t.Fatalf("lock-free dump while a lock is held: %v", err)
	}
	if res.ConsistencyMode == dump.ModeLock {
		t.Errorf("nolock dump reports mode %s", res.ConsistencyMode)
	}
}

// blockingWriter blocks the first write until release is closed.
type blockingWriter struct {
	once    sync.Once
	started chan struct{}
	release chan struct{}
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.started) })
	<-w.release
	return len(p), nil
}

func TestDumpServerGoneMidDump(t *testing.T) {
	testenv.RequireIT(t)
	db := mysqltest.FaultDB(t, 200000)
	src := mysqltest.OpenDB(t, mysqltest.SrcMySQL())
	w := &blockingWriter{started: make(chan struct{}), release: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := dump.Dump(ctx, dump.DumpOptions{MySQL: mysqltest.SrcMySQL(), Databases: []string{db}, Threads: 2, ChunkRows: 100000, Compression: "none"}, w)
		errc <- err
	}()
	select {
	case <-w.started:
	case err := <-errc:
		t.Fatalf("dump ended before writing: %v", err)
	}
	// Kill the worker connections reading rows of our table (they are
	// blocked mid-result because the sink does not accept data).
	s := mysqltest.NewSession(t, src)
	var killed int
	deadline := time.Now().Add(10 * time.Second)
	for killed == 0 && time.Now().Before(deadline) {
		for _, r := range s.Rows("SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT `id`,`c` FROM " + strings.ReplaceAll(sqltext.QuoteIdent(db), "_", "\\_") + "%' AND ID <> CONNECTION_ID()") {
			// The query may finish between the listing and the KILL
			// (error 1094, unknown thread): then look again.
			if _, err := src.Exec("KILL CONNECTION " + conn.Col(r, "ID")); err == nil {
				killed++
			} else if !strings.Contains(err.Error(), "1094") {
				t.Fatalf("KILL CONNECTION: %v", err)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if killed == 0 {
		t.Fatalf("found no dump connection to kill")
	}
	close(w.release)
	err := <-errc
	if err == nil {
		t.Fatalf("Dump succeeded although its connection was killed")
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dump hung until the test deadline: %v", err)
	}
	if !strings.Contains(err.Error(), "`t`") {
		t.Errorf("error does not name the table: %v", err)
	}
	t.Logf("killed %d connection(s): %v", killed, err)
}
