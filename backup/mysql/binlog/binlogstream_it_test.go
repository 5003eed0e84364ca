package binlog_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opsteam/ops/backup/mysql/binlog"
	"github.com/opsteam/ops/backup/mysql/binlogtest"
	"github.com/opsteam/ops/backup/mysql/conn"
	"github.com/opsteam/ops/internal/testenv"
)

// The binlog server of the integration tests: mariadb3 (services.sh), a
// throw-away MariaDB with the binary log on.
func binlogServer(t *testing.T, user string) conn.Config {
	t.Helper()
	testenv.RequireIT(t)
	return serverAt(t, testenv.Getenv("OPS_IT_MYSQL3_ADDR", "127.0.0.1:3308"), user)
}

func serverAt(t *testing.T, addr, user string) conn.Config {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("%q: %v", addr, err)
	}
	port, _ := strconv.Atoi(p)
	return conn.Config{Host: h, Port: port, User: user, Timeout: 10 * time.Second}
}

func connect(t *testing.T, m conn.Config, hint string) *sql.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	db, err := conn.Connect(ctx, m, nil)
	if err != nil {
		t.Fatalf("%s is not reachable (%s): %v", m.Host, hint, err)
	}
	db.SetMaxOpenConns(1) // one session: SET SESSION sticks
	t.Cleanup(func() { db.Close() })
	return db
}

func exec(t *testing.T, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func randName(prefix string) string {
	b := make([]byte, 4)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func masterStatus(t *testing.T, db *sql.DB) binlog.BinlogPos {
	t.Helper()
	var f string
	var p uint64
	var x, y sql.NullString
	if err := db.QueryRow("SHOW MASTER STATUS").Scan(&f, &p, &x, &y); err != nil {
		t.Fatal(err)
	}
	return binlog.BinlogPos{File: f, Pos: p}
}

func openSource(t *testing.T, m conn.Config) *binlog.BinlogSource {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	src, err := binlog.OpenBinlogSource(ctx, m, binlog.BinlogSourceOptions{Name: "it-" + t.Name()})
	if err != nil {
		t.Fatalf("OpenBinlogSource: %v", err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

// Every prerequisite that is not met is an error that says what to change.
func TestBinlogPrerequisitesIT(t *testing.T) {
	root := connect(t, binlogServer(t, "root"), "scripts/services.sh start mariadb3")
	ctx := context.Background()

	src := openSource(t, binlogServer(t, "ops_binlog"))
	srv, err := src.Inspect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if srv.Flavor != binlog.FlavorMariaDB || srv.Format != "ROW" || len(srv.Logs) == 0 || !srv.Has(srv.Current.File) || srv.ServerID == 0 || srv.GTID == "" || len(srv.Warnings) != 0 {
		t.Fatalf("Inspect = %+v", srv)
	}

	// Without REPLICATION SLAVE: refused when registering as a replica.
	norepl := openSource(t, binlogServer(t, "ops_norepl"))
	if _, err := norepl.Inspect(ctx); err != nil {
		t.Fatalf("ops_norepl has BINLOG MONITOR: %v", err)
	}
	if _, err := norepl.Stream(ctx, srv.Current); !errors.Is(err, binlog.ErrBinlogPrerequisite) || !strings.Contains(err.Error(), "GRANT REPLICATION SLAVE ON *.* TO 'ops_norepl'@'%'") {
		t.Errorf("Stream without REPLICATION SLAVE: %v", err)
	}

	// Without BINLOG MONITOR (nor anything else).
	user := randName("ops_nopriv_")
	exec(t, root, "CREATE USER '"+user+"'@'%' IDENTIFIED BY ''")
	t.Cleanup(func() { root.Exec("DROP USER '" + user + "'@'%'") })
	nopriv := openSource(t, binlogServer(t, user))
	if _, err := nopriv.Inspect(ctx); !errors.Is(err, binlog.ErrBinlogPrerequisite) || !strings.Contains(err.Error(), "GRANT BINLOG MONITOR, REPLICATION SLAVE ON *.* TO '"+user+"'@'%'") {
		t.Errorf("Inspect without BINLOG MONITOR: %v", err)
	}

	// binlog_format MIXED/STATEMENT: archived, with a warning.
	exec(t, root, "SET GLOBAL binlog_format = 'MIXED'")
	t.Cleanup(func() { root.Exec("SET GLOBAL binlog_format = 'ROW'") })
	src2 := openSource(t, binlogServer(t, "ops_binlog"))
	srv2, err := src2.Inspect(ctx)
	if err != nil || srv2.Format != "MIXED" || len(srv2.Warnings) != 1 || !strings.Contains(srv2.Warnings[0], "ROW is recommended") {
		t.Errorf("MIXED: %+v, %v", srv2, err)
	}
	exec(t, root, "SET GLOBAL binlog_format = 'ROW'")

	// log_bin off: mariadb2 runs without a binary log.
	off := openSource(t, serverAt(t, testenv.Getenv("OPS_IT_MYSQL2_ADDR", "127.0.0.1:3307"), "root"))
	if _, err := off.Inspect(ctx); !errors.Is(err, binlog.ErrBinlogPrerequisite) || !strings.Contains(err.Error(), "set log_bin") {
		t.Errorf("a server without a binary log: %v", err)
	}

	// A purged (or never existing) file.
	st, err := src.Stream(ctx, binlog.BinlogPos{File: "binlog.999998", Pos: 4})
	if err == nil {
		_, err = st.Next(ctx)
		st.Close()
	}
	if !errors.Is(err, binlog.ErrBinlogUnavailable) {
		t.Errorf("a missing file: %v", err)
	}
}

// The stream is the server's binary log, event for event and byte for
// byte, across row, statement and mixed transactions, DDL, a
// non-transactional table, an XA transaction and a rotation; transaction
// boundaries are where the server's transactions end.
func TestBinlogStreamIT(t *testing.T) {
	m := binlogServer(t, "root")
	root := connect(t, m, "scripts/services.sh start mariadb3")
	db := randName("ops_it_binlog_")
	t.Cleanup(func() { root.Exec("DROP DATABASE IF EXISTS " + db) })
	from := masterStatus(t, root)
	exec(t, root,
		"CREATE DATABASE "+db,
		"CREATE TABLE "+db+".t (id INT PRIMARY KEY, v VARCHAR(100)) ENGINE=InnoDB",
		"CREATE TABLE "+db+".m (id INT PRIMARY KEY) ENGINE=MyISAM",
		"INSERT INTO "+db+".t SELECT seq, REPEAT('x', seq % 100) FROM "+db+".seq_1_to_2000",
		"BEGIN", "UPDATE "+db+".t SET v = 'y' WHERE id < 10", "DELETE FROM "+db+".t WHERE id = 11", "COMMIT",
		"SET SESSION binlog_format = 'STATEMENT'",
		"BEGIN", "INSERT INTO "+db+".t VALUES (3001, 'stmt')", "UPDATE "+db+".t SET v = 'z' WHERE id = 3001", "COMMIT",
		"SET SESSION binlog_format = 'MIXED'",
		"INSERT INTO "+db+".t VALUES (3002, UUID())",
		"SET SESSION binlog_format = 'ROW'",
		"INSERT INTO "+db+".m VALUES (1), (2)",
		"XA START 'ops-it'", "INSERT INTO "+db+".t VALUES (3003, 'xa')", "XA END 'ops-it'", "XA PREPARE 'ops-it'", "XA COMMIT 'ops-it'",
		"FLUSH BINARY LOGS",
		"INSERT INTO "+db+".t VALUES (3004, 'after rotate')",
		"ALTER TABLE "+db+".t ADD COLUMN w INT",
	)
	until := masterStatus(t, root)
	gtidEnd := ""
	root.QueryRow("SELECT @@gtid_binlog_pos").Scan(&gtidEnd)

	src := openSource(t, binlogServer(t, "ops_binlog"))
	ctx := context.Background()
	gtid, err := src.GTIDAt(ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := binlog.NewGTIDTracker(binlog.FlavorMariaDB, gtid, true)
	if err != nil {
		t.Fatal(err)
	}
	st, err := src.Stream(ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var got []binlogtest.Event
	var boundaries []string
	for {
		c, cancel := context.WithTimeout(ctx, 30*time.Second)
		ev, err := st.Next(c)
		cancel()
		if err != nil {
			t.Fatalf("after %d events: %v", len(got), err)
		}
		if ev.Artificial {
			continue
		}
		if err := tr.Observe(ev); err != nil {
			t.Fatal(err)
		}
		got = append(got, binlogtest.Event{Pos: binlog.BinlogPos{File: ev.File, Pos: ev.Start}, End: ev.End, Type: ev.TypeName(), Raw: ev.Raw})
		if ev.Boundary {
			boundaries = append(boundaries, ev.TypeName())
		}
		if binlog.CompareBinlogPos(binlog.BinlogPos{File: ev.File, Pos: ev.End}, until) >= 0 {
			if st.InTransaction() {
				t.Fatal("a transaction is open at the server's position")
			}
			break
		}
	}
	files, err := binlogtest.Files(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	want, err := binlogtest.DirEvents(testenv.Getenv("OPS_IT_MYSQL3_DATADIR", "/var/lib/ops-test/mariadb3/data"), files, from, until)
	if err != nil {
		t.Fatalf("reading the server's files: %v", err)
	}
	if err := binlogtest.Compare(got, want); err != nil {
		t.Fatalf("stream vs the server's files: %v", err)
	}
	show, err := binlogtest.ShowEvents(ctx, root, files, from, until)
	if err != nil {
		t.Fatal(err)
	}
	if err := binlogtest.Compare(got, show); err != nil {
		t.Fatalf("stream vs SHOW BINLOG EVENTS: %v", err)
	}
	if tr.String() != gtidEnd {
		t.Errorf("GTID position followed to %q, server at %q", tr.String(), gtidEnd)
	}
	// Every transaction ends where the server's ends: XID for InnoDB, a
	// COMMIT query for MyISAM and statement transactions, the DDL query
	// itself, XA_prepare for the prepared XA branch, and the events between
	// transactions (format description, Gtid_list, checkpoints, rotate).
	kinds := map[string]int{}
	for _, b := range boundaries {
		kinds[b]++
	}
	for _, k := range []string{"Xid", "Query", "XA_prepare", "Rotate", "Format_desc", "Gtid_list", "Binlog_checkpoint"} {
		if kinds[k] == 0 {
			t.Errorf("no transaction ended with a %s event: %v", k, kinds)
		}
	}
	t.Logf("%d events from %s to %s, boundaries %v", len(got), from, until, kinds)
}
