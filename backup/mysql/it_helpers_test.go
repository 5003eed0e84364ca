package mysql

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"github.com/opsteam/ops/backup/compress"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/opsteam/ops/internal/testenv"
)

// Integration test servers: the source is the shared MariaDB (socket, root),
// the restore target a throw-away instance (OPS_IT_MYSQL2_ADDR, root, empty
// password).

func srcMySQL() Config {
	return Config{Socket: testenv.Getenv("OPS_IT_MYSQL_SOCKET", "/run/mysqld/mysqld.sock"), User: "root", LockWaitTimeout: 30 * time.Second}
}

func tgtMySQL(t testing.TB) Config {
	addr := testenv.Getenv("OPS_IT_MYSQL2_ADDR", "127.0.0.1:3307")
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("OPS_IT_MYSQL2_ADDR=%q: %v", addr, err)
	}
	port, _ := strconv.Atoi(p)
	return Config{Host: h, Port: port, User: "root"}
}

// servers opens the source and the restore target, and drops dbs on both
// when the test ends.
func servers(t testing.TB, dbs ...string) (src *sql.DB, tgtM Config, tgt *sql.DB) {
	t.Helper()
	src = openDB(t, srcMySQL())
	tgtM = tgtMySQL(t)
	tgt = openDB(t, tgtM)
	t.Cleanup(func() { dropDatabases(t, src, dbs...); dropDatabases(t, tgt, dbs...) })
	return src, tgtM, tgt
}

func openDB(t testing.TB, m Config) *sql.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	db, err := Connect(ctx, m, nil)
	if err != nil {
		t.Fatalf("integration server unreachable: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func uniqueName(prefix string) string {
	b := make([]byte, 4)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// session is one connection with settings kept across statements.
type session struct {
	t    testing.TB
	conn *sql.Conn
}

func newSession(t testing.TB, db *sql.DB) *session {
	t.Helper()
	c, err := db.Conn(context.Background())
	if err != nil {
		t.Fatalf("open connection: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return &session{t, c}
}

func (s *session) exec(stmts ...string) {
	s.t.Helper()
	for _, q := range stmts {
		if _, err := s.conn.ExecContext(context.Background(), q); err != nil {
			s.t.Fatalf("exec %q: %v", abbreviate(q, 300), err)
		}
	}
}

func (s *session) rows(q string) []map[string]sql.NullString {
	s.t.Helper()
	r, err := queryRows(context.Background(), s.conn, q)
	if err != nil {
		s.t.Fatalf("query %q: %v", q, err)
	}
	return r
}

func (s *session) one(q string) string {
	s.t.Helper()
	var v sql.NullString
	if err := s.conn.QueryRowContext(context.Background(), q).Scan(&v); err != nil {
		s.t.Fatalf("query %q: %v", q, err)
	}
	return v.String
}

func dropDatabases(t testing.TB, db *sql.DB, names ...string) {
	for _, n := range names {
		if _, err := db.Exec("DROP DATABASE IF EXISTS " + QuoteIdent(n)); err != nil {
			t.Errorf("drop database %s: %v", n, err)
		}
	}
}

// objectsOf lists the objects of a database: kind → names.
func objectsOf(s *session, db string) map[string][]string {
	q := quoteString(db)
	out := map[string][]string{}
	for _, r := range s.rows("SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA=" + q + " ORDER BY TABLE_NAME") {
		k := "TABLE"
		switch col(r, "TABLE_TYPE") {
		case "VIEW":
			k = "VIEW"
		case "SEQUENCE":
			k = "SEQUENCE"
		}
		out[k] = append(out[k], col(r, "TABLE_NAME"))
	}
	for _, r := range s.rows("SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA=" + q + " ORDER BY TRIGGER_NAME") {
		out["TRIGGER"] = append(out["TRIGGER"], col(r, "TRIGGER_NAME"))
	}
	for _, r := range s.rows("SELECT ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA=" + q + " ORDER BY ROUTINE_NAME") {
		out[col(r, "ROUTINE_TYPE")] = append(out[col(r, "ROUTINE_TYPE")], col(r, "ROUTINE_NAME"))
	}
	for _, r := range s.rows("SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA=" + q + " ORDER BY EVENT_NAME") {
		out["EVENT"] = append(out["EVENT"], col(r, "EVENT_NAME"))
	}
	return out
}

// fingerprint describes a database for comparison: SHOW CREATE of every
// object (minus creation times), CHECKSUM TABLE of every table, trigger
// order, sequence state.
func fingerprint(t testing.TB, s *session, db string) map[string]string {
	t.Helper()
	s.exec("USE " + QuoteIdent(db))
	s.exec("SET SESSION character_set_results = binary")
	defer s.exec("SET SESSION character_set_results = utf8mb4")
	fp := map[string]string{}
	objs := objectsOf(s, db)
	if len(objs) == 0 {
		t.Fatalf("database %s has no objects", db)
	}
	show := func(key, q string) {
		var parts []string
		for _, r := range s.rows(q) {
			keys := make([]string, 0, len(r))
			for k := range r {
				if k == "Created" {
					continue
				}
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				parts = append(parts, k+"="+r[k].String)
			}
		}
		fp[key] = strings.Join(parts, "\n")
	}
	for kind, names := range objs {
		fp["list "+kind] = strings.Join(names, ",")
		for _, n := range names {
			qn := QuoteIdent(n)
			switch kind {
			case "TABLE":
				show("create table "+n, "SHOW CREATE TABLE "+qn)
				fp["checksum "+n] = s.rows("CHECKSUM TABLE " + qn + " EXTENDED")[0]["Checksum"].String
				fp["count "+n] = s.one("SELECT COUNT(*) FROM " + qn)
			case "SEQUENCE":
				show("create sequence "+n, "SHOW CREATE SEQUENCE "+qn)
				show("state sequence "+n, "SELECT * FROM "+qn)
			case "VIEW":
				show("create view "+n, "SHOW CREATE VIEW "+qn)
			default:
				show("create "+kind+" "+n, "SHOW CREATE "+kind+" "+qn)
			}
		}
	}
	show("trigger order", "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA="+quoteString(db)+" ORDER BY TRIGGER_NAME")
	show("schema", "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME="+quoteString(db))
	return fp
}

func compareFingerprints(t testing.TB, label string, want, got map[string]string) {
	t.Helper()
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	bad := 0
	for _, k := range keys {
		if got[k] != want[k] {
			bad++
			t.Errorf("%s: %s differs:\nsource: %s\ntarget: %s", label, k, abbreviate(want[k], 2000), abbreviate(got[k], 2000))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: %s only in the target", label, k)
		}
	}
	if bad == 0 {
		t.Logf("%s: %d properties identical", label, len(keys))
	}
}

// mysqlClientRestore pipes a dump through `zstd -dc | mysql --binary-mode` (the stock
// client) into the target.
func mysqlClientRestore(t testing.TB, dump []byte, m Config) {
	t.Helper()
	cmd := exec.Command("sh", "-c", fmt.Sprintf("zstd -dc | mysql --binary-mode -h%s -P%d -uroot", m.Host, m.Port))
	cmd.Stdin = bytes.NewReader(dump)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("zstd -dc | mysql: %v\n%s", err, out)
	}
}

var _ = gomysql.ErrInvalidConn

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func decompressAll(t testing.TB, b []byte) string {
	t.Helper()
	r, _, closeFn, err := compress.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("decompress: %v", err)
	}
	defer closeFn()
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decompress: %v", err)
	}
	return string(out)
}
