package mysqltest

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opsteam/ops/backup/compress"
	"github.com/opsteam/ops/backup/mysql/conn"
	"github.com/opsteam/ops/backup/mysql/sqltext"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/opsteam/ops/internal/testenv"
)

// Integration test servers: the source is the shared MariaDB (socket, root),
// the restore target a throw-away instance (OPS_IT_MYSQL2_ADDR, root, empty
// password).

func SrcMySQL() conn.Config {
	return conn.Config{Socket: testenv.Getenv("OPS_IT_MYSQL_SOCKET", "/run/mysqld/mysqld.sock"), User: "root", LockWaitTimeout: 30 * time.Second}
}

func TgtMySQL(t testing.TB) conn.Config {
	addr := testenv.Getenv("OPS_IT_MYSQL2_ADDR", "127.0.0.1:3307")
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("OPS_IT_MYSQL2_ADDR=%q: %v", addr, err)
	}
	port, _ := strconv.Atoi(p)
	return conn.Config{Host: h, Port: port, User: "root"}
}

// Servers opens the source and the restore target, and drops dbs on both
// when the test ends.
func Servers(t testing.TB, dbs ...string) (src *sql.DB, tgtM conn.Config, tgt *sql.DB) {
	t.Helper()
	src = OpenDB(t, SrcMySQL())
	tgtM = TgtMySQL(t)
	tgt = OpenDB(t, tgtM)
	t.Cleanup(func() { DropDatabases(t, src, dbs...); DropDatabases(t, tgt, dbs...) })
	return src, tgtM, tgt
}

func OpenDB(t testing.TB, m conn.Config) *sql.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	db, err := conn.Connect(ctx, m, nil)
	if err != nil {
		t.Fatalf("integration server unreachable: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func UniqueName(prefix string) string {
	b := make([]byte, 4)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// Session is one connection with settings kept across statements.
type Session struct {
	t    testing.TB
	Conn *sql.Conn
}

func NewSession(t testing.TB, db *sql.DB) *Session {
	t.Helper()
	c, err := db.Conn(context.Background())
	if err != nil {
		t.Fatalf("open connection: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return &Session{t, c}
}

func (s *Session) Exec(stmts ...string) {
	s.t.Helper()
	for _, q := range stmts {
		if _, err := s.Conn.ExecContext(context.Background(), q); err != nil {
			s.t.Fatalf("exec %q: %v", sqltext.Abbreviate(q, 300), err)
		}
	}
}

func (s *Session) Rows(q string) []map[string]sql.NullString {
	s.t.Helper()
	r, err := conn.QueryRows(context.Background(), s.Conn, q)
	if err != nil {
		s.t.Fatalf("query %q: %v", q, err)
	}
	return r
}

func (s *Session) One(q string) string {
	s.t.Helper()
	var v sql.NullString
	if err := s.Conn.QueryRowContext(context.Background(), q).Scan(&v); err != nil {
		s.t.Fatalf("query %q: %v", q, err)
	}
	return v.String
}

func DropDatabases(t testing.TB, db *sql.DB, names ...string) {
	for _, n := range names {
		if _, err := db.Exec("DROP DATABASE IF EXISTS " + sqltext.QuoteIdent(n)); err != nil {
			t.Errorf("drop database %s: %v", n, err)
		}
	}
}

// objectsOf lists the objects of a database: kind → names.
func objectsOf(s *Session, db string) map[string][]string {
	q := sqltext.QuoteString(db)
	out := map[string][]string{}
	for _, r := range s.Rows("SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA=" + q + " ORDER BY TABLE_NAME") {
		k := "TABLE"
		switch conn.Col(r, "TABLE_TYPE") {
		case "VIEW":
			k = "VIEW"
		case "SEQUENCE":
			k = "SEQUENCE"
		}
		out[k] = append(out[k], conn.Col(r, "TABLE_NAME"))
	}
	for _, r := range s.Rows("SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA=" + q + " ORDER BY TRIGGER_NAME") {
		out["TRIGGER"] = append(out["TRIGGER"], conn.Col(r, "TRIGGER_NAME"))
	}
	for _, r := range s.Rows("SELECT ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA=" + q + " ORDER BY ROUTINE_NAME") {
		out[conn.Col(r, "ROUTINE_TYPE")] = append(out[conn.Col(r, "ROUTINE_TYPE")], conn.Col(r, "ROUTINE_NAME"))
	}
	for _, r := range s.Rows("SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA=" + q + " ORDER BY EVENT_NAME") {
		out["EVENT"] = append(out["EVENT"], conn.Col(r, "EVENT_NAME"))
	}
	return out
}

// Fingerprint describes a database for comparison: SHOW CREATE of every
// object (minus creation times), CHECKSUM TABLE of every table, trigger
// order, sequence state.
func Fingerprint(t testing.TB, s *Session, db string) map[string]string {
	t.Helper()
	s.Exec("USE " + sqltext.QuoteIdent(db))
	s.Exec("SET SESSION character_set_results = binary")
	defer s.Exec("SET SESSION character_set_results = utf8mb4")
	fp := map[string]string{}
	objs := objectsOf(s, db)
	if len(objs) == 0 {
		t.Fatalf("database %s has no objects", db)
	}
	show := func(key, q string) {
		var parts []string
		for _, r := range s.Rows(q) {
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
			qn := sqltext.QuoteIdent(n)
			switch kind {
			case "TABLE":
				show("create table "+n, "SHOW CREATE TABLE "+qn)
				fp["checksum "+n] = s.Rows("CHECKSUM TABLE " + qn + " EXTENDED")[0]["Checksum"].String
				fp["count "+n] = s.One("SELECT COUNT(*) FROM " + qn)
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
	show("trigger order", "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA="+sqltext.QuoteString(db)+" ORDER BY TRIGGER_NAME")
	show("schema", "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME="+sqltext.QuoteString(db))
	return fp
}

func CompareFingerprints(t testing.TB, label string, want, got map[string]string) {
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
			t.Errorf("%s: %s differs:\nsource: %s\ntarget: %s", label, k, sqltext.Abbreviate(want[k], 2000), sqltext.Abbreviate(got[k], 2000))
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

// MySQLClientRestore pipes a dump through `zstd -dc | mysql --binary-mode` (the stock
// client) into the target.
func MySQLClientRestore(t testing.TB, dumpOut []byte, m conn.Config) {
	t.Helper()
	cmd := exec.Command("sh", "-c", fmt.Sprintf("zstd -dc | mysql --binary-mode -h%s -P%d -uroot", m.Host, m.Port))
	cmd.Stdin = bytes.NewReader(dumpOut)
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

func TestLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func DecompressAll(t testing.TB, b []byte) string {
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

// FaultDB creates a database with one table of n rows and returns its name.
func FaultDB(t *testing.T, n int) string {
	t.Helper()
	src := OpenDB(t, SrcMySQL())
	name := UniqueName("ops_it_fault_")
	t.Cleanup(func() { DropDatabases(t, src, name) })
	s := NewSession(t, src)
	s.Exec("CREATE DATABASE "+sqltext.QuoteIdent(name), "USE "+sqltext.QuoteIdent(name),
		"CREATE TABLE t (id INT PRIMARY KEY, c CHAR(100))",
		fmt.Sprintf("INSERT INTO t SELECT seq, REPEAT('x', 100) FROM seq_1_to_%d", n))
	return name
}

// Privileges is every account and its privileges: a restore must not
// change it.
func Privileges(t *testing.T, db *sql.DB) string {
	t.Helper()
	var out string
	if err := db.QueryRow("SELECT GROUP_CONCAT(CONCAT(User, '@', Host, '=', Priv) ORDER BY User, Host SEPARATOR '\n') FROM mysql.global_priv").Scan(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// LinesOutsideQuotes returns the lines of an SQL script that start outside
// any '…', "…" or `…` token and outside any comment: the lines the mysql
// client reads as the start of a command or statement. Like the client, it
// ignores quotes inside -- and # comments (which end at the line's end)
// and inside /* */ comments (but not /*! */ ones, which are code).
func LinesOutsideQuotes(script string) []string {
	var out []string
	var q byte
	start := true
	for i := 0; i < len(script); i++ {
		if start && q == 0 {
			end := strings.IndexByte(script[i:], '\n')
			if end < 0 {
				end = len(script) - i
			}
			out = append(out, script[i:i+end])
		}
		start = false
		c := script[i]
		rest := script[i:]
		switch {
		case q != 0 && c == '\\' && q != '`':
			i++
		case q != 0 && c == q:
			q = 0
		case q != 0:
		case c == '\'' || c == '"' || c == '`':
			q = c
		case c == '#' || strings.HasPrefix(rest, "-- ") || strings.HasPrefix(rest, "--\t") || rest == "--" || strings.HasPrefix(rest, "--\n"):
			if nl := strings.IndexByte(rest, '\n'); nl >= 0 {
				i += nl - 1 // the newline is seen next round
			} else {
				i = len(script)
			}
		case strings.HasPrefix(rest, "/*") && !strings.HasPrefix(rest, "/*!") && !strings.HasPrefix(rest, "/*M!"):
			if end := strings.Index(rest[2:], "*/"); end >= 0 {
				i += end + 3
			} else {
				i = len(script)
			}
		case c == '\n':
			start = true
		}
	}
	return out
}
