package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/opsteam/ops/backup"
	"github.com/opsteam/ops/backup/mysql/binlogtest"
	"github.com/opsteam/ops/backup/pitr"
	"github.com/opsteam/ops/backup/storage/local"
	"github.com/opsteam/ops/internal/testenv"
)

// pitrIT is a point-in-time test bed on mariadb3 (binary log on): two
// databases in the job (a, b), one outside it (c), writers in ROW and MIXED
// sessions, the archiver running as a process.
type pitrIT struct {
	t              *testing.T
	root, root2    *sql.DB
	a, b, c        string
	dir, cfg, cfg2 string
	datadir        string
	addr3, addr2   string
	tables         []string // a.t1, a.t3, b.t2 as "db.table"
	beforeT        map[string]string
}

func newPitrIT(t *testing.T) *pitrIT {
	t.Helper()
	return newPitrITNamed(t, "ops_it_pitr")
}

// newPitrITNamed is newPitrIT with databases named PREFIX_a_N, PREFIX_b_N,
// PREFIX_c_N.
func newPitrITNamed(t *testing.T, prefix string) *pitrIT {
	t.Helper()
	testenv.RequireIT(t)
	p := &pitrIT{t: t, datadir: testenv.Getenv("OPS_IT_MYSQL3_DATADIR", "/var/lib/ops-test/mariadb3/data"),
		addr3: testenv.Getenv("OPS_IT_MYSQL3_ADDR", "127.0.0.1:3308"), addr2: testenv.Getenv("OPS_IT_MYSQL2_ADDR", "127.0.0.1:3307")}
	p.root = itOpen(t, "root@tcp("+p.addr3+")/", "scripts/services.sh start mariadb3")
	p.root2 = itOpen(t, "root@tcp("+p.addr2+")/", "scripts/services.sh start mariadb2")
	n := rand.Uint32()
	p.a, p.b, p.c = fmt.Sprintf("%s_a_%d", prefix, n), fmt.Sprintf("%s_b_%d", prefix, n), fmt.Sprintf("%s_c_%d", prefix, n)
	t.Cleanup(func() {
		for _, db := range []string{p.a, p.b, p.c, p.a + "_r", p.b + "_r"} {
			p.root.Exec("DROP DATABASE IF EXISTS " + db)
			p.root2.Exec("DROP DATABASE IF EXISTS " + db)
		}
	})
	mustExec(t, p.root,
		"CREATE DATABASE "+p.a, "CREATE DATABASE "+p.b, "CREATE DATABASE "+p.c,
		"CREATE TABLE "+p.a+".t1 (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(64), n INT, KEY (n))",
		"CREATE TABLE "+p.b+".t2 (id INT PRIMARY KEY, v VARCHAR(64), n INT)",
		"CREATE TABLE "+p.c+".t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(64))",
		"INSERT INTO "+p.a+".t1 (v, n) SELECT MD5(seq), seq FROM "+p.a+".seq_1_to_2000",
		"INSERT INTO "+p.b+".t2 SELECT seq, MD5(seq), seq FROM "+p.b+".seq_1_to_2000",
		// a second table in a: its data and t1's take turns in the stream,
		// so that the base restore loads them as LOAD DATA (a table alone
		// in its database's section goes as INSERTs, see mysql.alone)
		"CREATE TABLE "+p.a+".t0 (id INT PRIMARY KEY, v VARCHAR(64))",
		"INSERT INTO "+p.a+".t0 SELECT seq, MD5(seq) FROM "+p.a+".seq_1_to_2000")
	tmp := t.TempDir()
	p.dir = filepath.Join(tmp, "target")
	p.cfg, p.cfg2 = pitrConfigs(t, tmp, p.addr3, p.addr2, "threads: 2", p.a, p.b)
	p.tables = []string{p.a + ".t1", p.a + ".t3", p.b + ".t2"}
	return p
}

// pitrConfigs writes two configs of one job "it" archiving the binary log
// of dbs into tmp/target with one manifest key: one for the server at
// addr (the source), one for addr2 (the machine a backup is restored on).
// extra is more job keys (one line, e.g. "threads: 2"), or "".
func pitrConfigs(t *testing.T, tmp, addr, addr2, extra string, dbs ...string) (cfg, cfg2 string) {
	t.Helper()
	mkey := filepath.Join(tmp, "manifest.key")
	if err := os.WriteFile(mkey, []byte("pitr-it-manifest-key-0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if extra != "" {
		extra = "\n      " + extra
	}
	conf := func(addr string) string {
		host, port, _ := strings.Cut(addr, ":")
		return writeConfig(t, fmt.Sprintf(`lock_dir: %s
storage:
  targets:
    local: {type: local, path: %s}
backup:
  jobs:
    - name: it
      mysql: {host: %s, port: %s, user: root}
      databases: [%s]%s
      binlog: {enabled: true, flush_interval: 1s}
      manifest_key_file: %s
`, filepath.Join(tmp, "locks"), filepath.Join(tmp, "target"), host, port, strings.Join(dbs, ", "), extra, mkey))
	}
	return conf(addr), conf(addr2)
}

func mustExec(t *testing.T, db interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, stmts ...string) {
	t.Helper()
	for _, q := range stmts {
		if _, err := db.ExecContext(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func (p *pitrIT) ops(cfg string, args ...string) string {
	p.t.Helper()
	code, out, stderr := runOps(p.t, append([]string{"--config", cfg}, args...)...)
	if code != 0 {
		p.t.Fatalf("ops %s: exit %d\n%s\n%s", strings.Join(args, " "), code, out, stderr)
	}
	return out
}

// writers runs a ROW session on a (multi-statement transactions), a MIXED
// session on b (statements), and a writer on c (outside the job) until
// stop is closed.
func (p *pitrIT) writers(stop <-chan struct{}, wg *sync.WaitGroup, errs chan<- error) {
	session := func(db, format string, body func(c *sql.Conn, i int) error) {
		defer wg.Done()
		ctx := context.Background()
		c, err := p.root.Conn(ctx)
		if err != nil {
			errs <- err
			return
		}
		defer c.Close()
		if _, err := c.ExecContext(ctx, "USE "+db); err != nil {
			errs <- err
			return
		}
		if _, err := c.ExecContext(ctx, "SET SESSION binlog_format="+format); err != nil {
			errs <- err
			return
		}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := body(c, i); err != nil {
				errs <- fmt.Errorf("%s %s: %w", db, format, err)
				return
			}
			time.Sleep(3 * time.Millisecond)
		}
	}
	wg.Add(3)
	go session(p.a, "ROW", func(c *sql.Conn, i int) error {
		return inTx(c, fmt.Sprintf("INSERT INTO t1 (v, n) VALUES (MD5(RAND()), %d), (UUID(), %d)", i, i+1),
			fmt.Sprintf("UPDATE t1 SET v = CONCAT(v, 'x'), n = n + 1 WHERE id %% 97 = %d", i%97),
			fmt.Sprintf("DELETE FROM t1 WHERE n = %d", i*3))
	})
	go session(p.b, "MIXED", func(c *sql.Conn, i int) error {
		return inTx(c, fmt.Sprintf("INSERT INTO t2 VALUES (%d, 'm%d', %d)", 100000+i, i, i),
			fmt.Sprintf("UPDATE t2 SET n = n * 2 + 1 WHERE id %% 53 = %d", i%53),
			// not deterministic: logged as rows in MIXED
			fmt.Sprintf("UPDATE t2 SET v = UUID() WHERE id = %d", i%2000+1))
	})
	go session(p.c, "ROW", func(c *sql.Conn, i int) error {
		_, err := c.ExecContext(context.Background(), "INSERT INTO t (v) VALUES (MD5(RAND()))")
		return err
	})
}

func inTx(c *sql.Conn, stmts ...string) error {
	ctx := context.Background()
	tx, err := c.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	for _, q := range stmts {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			tx.Rollback()
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return tx.Commit()
}

// checksums takes CHECKSUM TABLE of the test's tables (db renamed by mapping).
func checksums(t *testing.T, db *sql.DB, tables []string, rename map[string]string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, q := range tables {
		d, tb, _ := strings.Cut(q, ".")
		if r, ok := rename[d]; ok {
			d = r
		}
		var name string
		var sum sql.NullString
		if err := db.QueryRow("CHECKSUM TABLE "+d+"."+tb).Scan(&name, &sum); err != nil {
			t.Fatalf("CHECKSUM TABLE %s.%s: %v", d, tb, err)
		}
		var rows int
		if err := db.QueryRow("SELECT COUNT(*) FROM " + d + "." + tb).Scan(&rows); err != nil {
			t.Fatal(err)
		}
		out[q] = fmt.Sprintf("%s (%d rows)", sum.String, rows)
	}
	return out
}

func sameSums(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if got[k] != want[k] {
			t.Errorf("%s: %s: CHECKSUM TABLE %s, want %s", what, k, got[k], want[k])
		}
	}
}

// The scenario: writers in ROW and MIXED sessions with
// multi-statement transactions and DDL in between, the archiver running,
// a full backup in the middle, a destructive statement at T. `restore
// --until T` under a mapping (same server) and onto another server gives
// CHECKSUM TABLE identical to a snapshot taken just before T, and so does
// `mariadb-binlog --stop-datetime T | mariadb` over the same events.
func TestPointInTimeRestoreIT(t *testing.T) {
	p := newPitrIT(t)
	arch := opsProcess("--config", p.cfg, "backup", "binlog", "--job", "it")
	var archLog bytes.Buffer
	arch.Stderr = &archLog
	if err := arch.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if arch.ProcessState == nil {
			arch.Process.Kill()
			arch.Wait()
		}
	}()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	p.writers(stop, &wg, errs)
	time.Sleep(700 * time.Millisecond)
	mustExec(t, p.root, "ALTER TABLE "+p.a+".t1 ADD COLUMN extra INT NOT NULL DEFAULT 7")
	time.Sleep(500 * time.Millisecond)
	p.ops(p.cfg, "backup", "run", "--job", "it", "--no-prune") // the full backup, mid-way
	time.Sleep(500 * time.Millisecond)
	ddl, _ := p.root.Conn(context.Background())
	mustExec(t, ddl, "USE "+p.a, "CREATE TABLE t3 (id INT PRIMARY KEY, w TEXT) ENGINE=InnoDB",
		"INSERT INTO t3 SELECT seq, REPEAT(MD5(seq), 3) FROM seq_1_to_500", "ALTER TABLE t1 DROP COLUMN extra")
	ddl.Close()
	time.Sleep(700 * time.Millisecond)
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// The snapshot just before T, then T on a fresh second, then the damage.
	p.beforeT = checksums(t, p.root, p.tables, nil)
	var gtidBefore string
	if err := p.root.QueryRow("SELECT @@gtid_binlog_pos").Scan(&gtidBefore); err != nil {
		t.Fatal(err)
	}
	posBefore := masterPos(t, p.root)
	T := time.Now().Truncate(time.Second).Add(time.Second)
	time.Sleep(time.Until(T) + 20*time.Millisecond)
	mustExec(t, p.root, "DELETE FROM "+p.a+".t1 WHERE id % 3 <> 0", "DROP TABLE "+p.b+".t2",
		"INSERT INTO "+p.a+".t3 VALUES (100000, 'after T')")
	time.Sleep(300 * time.Millisecond)
	if err := arch.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := arch.Wait(); err != nil {
		t.Fatalf("archiver: %v\n%s", err, archLog.String())
	}
	p.ops(p.cfg, "backup", "binlog", "--job", "it", "--once")
	until := T.UTC().Format(time.RFC3339)

	// Same server, under a mapping.
	args := []string{"--config", p.cfg, "backup", "restore", "--job", "it", "--until", until, "--database", p.a + "=" + p.a + "_r", "--database", p.b + "=" + p.b + "_r"}
	code, out, stderr := runOps(t, args...)
	if code != 0 {
		t.Fatalf("ops %s: exit %d\n%s\n%s", strings.Join(args, " "), code, out, stderr)
	}
	t.Logf("restore --until %s (mapped): %s", until, strings.TrimSpace(out))
	// The base is restored as a plain restore is: rows as LOAD DATA, t1's
	// secondary index after its data.
	if m := regexp.MustCompile(`msg="restore finished" .*tables_indexed_after_data=[1-9][0-9]* .*loaded_statements=[1-9][0-9]*`).FindString(stderr); m == "" {
		t.Errorf("the base restore of restore --until did not load rows as LOAD DATA and index after the data:\n%s", stderr)
	} else {
		t.Logf("base: %s", m)
	}
	var replayed int
	if _, err := fmt.Sscanf(out[strings.Index(out, "then "):], "then %d transactions", &replayed); err != nil || replayed < 50 {
		t.Fatalf("the replay applied %d transactions (%v): the writers made hundreds after the backup", replayed, err)
	}
	mapped := checksums(t, p.root, p.tables, map[string]string{p.a: p.a + "_r", p.b: p.b + "_r"})
	sameSums(t, "same server, mapped", mapped, p.beforeT)
	if c := countRows(t, p.root, p.c+".t"); c == 0 {
		t.Errorf("the database outside the job has no rows")
	}

	// Another server: with ops, then with the stock tools over the same events.
	start := time.Now()
	p.ops(p.cfg2, "backup", "restore", "--job", "it", "--until", until)
	opsTook := time.Since(start)
	other := checksums(t, p.root2, p.tables, nil)
	sameSums(t, "other server", other, p.beforeT)
	if n := countDBs(t, p.root2, p.c); n != 0 {
		t.Errorf("the database outside the job was created on the other server")
	}
	mustExec(t, p.root2, "DROP DATABASE "+p.a, "DROP DATABASE "+p.b)
	stock := p.stockReplay(until)
	sameSums(t, "mariadb-binlog --stop-datetime | mariadb", stock, p.beforeT)
	t.Logf("restore --until onto another server: ops %s (restore + replay)", opsTook.Round(time.Millisecond))

	// The same point as a GTID position and as a binary log position.
	for _, until := range [][]string{{"--until-gtid", gtidBefore}, {"--until-position", posBefore}} {
		m := map[string]string{p.a: p.a + "_r", p.b: p.b + "_r"}
		out := p.ops(p.cfg2, append([]string{"backup", "restore", "--job", "it", "--replace", "--database", p.a + "=" + m[p.a], "--database", p.b + "=" + m[p.b]}, until...)...)
		t.Logf("%s %s: %s", until[0], until[1], strings.TrimSpace(out))
		sameSums(t, until[0], checksums(t, p.root2, p.tables, m), p.beforeT)
	}

	// Before the oldest backup: exit 2 naming the recoverable window.
	code, _, stderr = runOps(t, "--config", p.cfg, "backup", "restore", "--job", "it", "--until", "2001-01-01T00:00:00Z", "--database", p.a+"="+p.a+"_x")
	if code != 2 || !strings.Contains(stderr, "before the oldest backup") || !strings.Contains(stderr, "recoverable: backup ") {
		t.Errorf("--until before the oldest backup: exit %d\n%s", code, stderr)
	}
	// After the archive's end: exit 2 as well.
	code, _, stderr = runOps(t, "--config", p.cfg, "backup", "restore", "--job", "it", "--until", time.Now().Add(time.Hour).UTC().Format(time.RFC3339), "--database", p.a+"="+p.a+"_x")
	if code != 2 || !strings.Contains(stderr, "does not reach it") {
		t.Errorf("--until after the archive: exit %d\n%s", code, stderr)
	}
}

// stockReplay restores the backup onto mariadb2 without --until, then
// pipes the server's own binary log files through `mariadb-binlog
// --database DB --start-position --stop-datetime` into `mariadb`, once per
// restored database, the way an admin does it by hand (other databases of
// the server, including other tests', are left out by --database).
func (p *pitrIT) stockReplay(until string) map[string]string {
	t := p.t
	p.ops(p.cfg2, "backup", "restore", "--job", "it")
	list, err := backup.ListBackups(context.Background(), local.New(p.dir), backup.Job{Name: "it"}, false)
	if err != nil || len(list) == 0 {
		t.Fatalf("no backup: %v", err)
	}
	m := list[0].ManifestData()
	if at := m.Consistency.SnapshotAt; at.Before(m.StartedAt.Truncate(time.Second)) || at.After(m.FinishedAt) {
		t.Errorf("snapshot_at %s is not within the backup's run (%s to %s)", at, m.StartedAt, m.FinishedAt)
	}
	files, err := binlogtest.Files(context.Background(), p.root)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range files {
		if f >= m.Consistency.BinlogFile {
			paths = append(paths, filepath.Join(p.datadir, f))
		}
	}
	host, port, _ := strings.Cut(p.addr2, ":")
	stopAt, _ := time.Parse(time.RFC3339, until)
	start := time.Now()
	for _, db := range []string{p.a, p.b} {
		script := fmt.Sprintf("mariadb-binlog --database=%s --start-position=%d --stop-datetime=%q %s | mariadb --no-defaults --binary-mode -h %s -P %s -uroot",
			db, m.Consistency.BinlogPos, stopAt.Local().Format("2006-01-02 15:04:05"), strings.Join(paths, " "), host, port)
		if out, err := exec.Command("bash", "-o", "pipefail", "-c", script).CombinedOutput(); err != nil {
			t.Fatalf("stock replay of %s: %v\n%s", db, err, out)
		}
	}
	t.Logf("stock replay (mariadb-binlog --database | mariadb, per database) of the same events: %s", time.Since(start).Round(time.Millisecond))
	return checksums(t, p.root2, p.tables, nil)
}

func masterPos(t *testing.T, db *sql.DB) string {
	t.Helper()
	var file string
	var pos uint64
	var x1, x2 sql.NullString
	if err := db.QueryRow("SHOW MASTER STATUS").Scan(&file, &pos, &x1, &x2); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%s:%d", file, pos)
}

func countRows(t *testing.T, db *sql.DB, table string) int {
	t.Helper()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func countDBs(t *testing.T, db *sql.DB, name string) int {
	t.Helper()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// An encrypted job (encrypt_to, identity_file): the archiver encrypts the
// chunks like the dumps, restore --until decrypts both with the identity,
// and without the identity it stops before touching the target (exit 2).
func TestPointInTimeRestoreEncryptedIT(t *testing.T) {
	p := newPitrIT(t)
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "age.key")
	if err := os.WriteFile(keyFile, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []*string{&p.cfg, &p.cfg2} {
		body, _ := os.ReadFile(*cfg)
		*cfg = writeConfig(t, strings.Replace(string(body), "      threads: 2\n",
			"      threads: 2\n      encrypt_to: ["+id.Recipient().String()+"]\n      identity_file: "+keyFile+"\n", 1))
	}
	p.ops(p.cfg, "backup", "run", "--job", "it", "--no-prune")
	mustExec(t, p.root, "INSERT INTO "+p.a+".t1 (v, n) VALUES ('after the backup', 1)", "UPDATE "+p.b+".t2 SET n = n + 1 WHERE id < 100")
	p.tables = []string{p.a + ".t1", p.b + ".t2"}
	p.beforeT = checksums(t, p.root, p.tables, nil)
	T := time.Now().Truncate(time.Second).Add(time.Second)
	time.Sleep(time.Until(T) + 20*time.Millisecond)
	mustExec(t, p.root, "DELETE FROM "+p.a+".t1")
	p.ops(p.cfg, "backup", "binlog", "--job", "it", "--once")
	for _, c := range p.chunks(t) {
		if !strings.HasSuffix(c.Object, ".age") {
			t.Errorf("chunk %s is stored unencrypted: %s", c.Start, c.Object)
		}
	}
	until := T.UTC().Format(time.RFC3339)
	// Without the identity: refused before anything is restored.
	noKey := filepath.Join(t.TempDir(), "none.yaml")
	body, _ := os.ReadFile(p.cfg2)
	os.WriteFile(noKey, []byte(strings.Replace(string(body), "      identity_file: "+keyFile+"\n", "", 1)), 0o600)
	if code, _, stderr := runOps(t, "--config", noKey, "backup", "restore", "--job", "it", "--until", until); code != 2 || countDBs(t, p.root2, p.a) != 0 {
		t.Errorf("restore --until without the identity: exit %d, %s exists: %d\n%s", code, p.a, countDBs(t, p.root2, p.a), stderr)
	}
	out := p.ops(p.cfg2, "backup", "restore", "--job", "it", "--until", until)
	t.Logf("encrypted restore --until %s: %s", until, strings.TrimSpace(out))
	sameSums(t, "encrypted, other server", checksums(t, p.root2, p.tables, nil), p.beforeT)
}

func (p *pitrIT) chunks(t *testing.T) []*pitr.ChunkInfo {
	t.Helper()
	j := backup.DefaultJob()
	j.Name = "it"
	cs, err := pitr.ListBinlogChunks(context.Background(), local.New(p.dir), j)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}
