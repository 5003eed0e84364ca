package dump

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/opsteam/ops/backup/mysql/conn"
	"github.com/opsteam/ops/backup/mysql/mysqltest"
	"github.com/opsteam/ops/backup/mysql/sqltext"
	"github.com/opsteam/ops/internal/testenv"
)

// TLS against mariadb2 (127.0.0.1:3307), which scripts/services.sh runs with
// the test PKI's server certificate (CN=localhost, SANs localhost,
// 127.0.0.1, ::1) and the accounts ops_tls (REQUIRE SSL) and ops_x509
// (REQUIRE X509). The shared MariaDB on 3306 has no TLS.

type tlsEnv struct {
	ca, clientCert, clientKey string
}

func itTLSEnv(t *testing.T) tlsEnv {
	t.Helper()
	pki := testenv.Getenv("OPS_IT_PKI_DIR", "/var/lib/ops-test/pki")
	e := tlsEnv{
		ca:         testenv.Getenv("OPS_IT_MYSQL2_CA", pki+"/ca.crt"),
		clientCert: testenv.Getenv("OPS_IT_MYSQL2_CLIENT_CERT", pki+"/mysql-client.crt"),
		clientKey:  testenv.Getenv("OPS_IT_MYSQL2_CLIENT_KEY", pki+"/mysql-client.key"),
	}
	for _, f := range []string{e.ca, e.clientCert, e.clientKey} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("TLS test files missing (run scripts/services.sh start mariadb2): %v", err)
		}
	}
	return e
}

// tlsTarget is mariadb2 over TCP with tls settings t.
func tlsTarget(t *testing.T, user string, tl conn.TLS) conn.Config {
	m := mysqltest.TgtMySQL(t)
	m.User = user
	m.TLS = tl
	m.Timeout = 10 * time.Second
	return m
}

// sslCipher connects with m and returns the session's Ssl_cipher ("" =
// plaintext).
func sslCipher(t *testing.T, m conn.Config) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := conn.Connect(ctx, m, nil)
	if err != nil {
		return "", err
	}
	defer db.Close()
	var name, cipher string
	if err := db.QueryRowContext(ctx, "SHOW SESSION STATUS LIKE 'Ssl_cipher'").Scan(&name, &cipher); err != nil {
		t.Fatalf("SHOW STATUS: %v", err)
	}
	return cipher, nil
}

func TestTLSModesMariaDB(t *testing.T) {
	testenv.RequireIT(t)
	e := itTLSEnv(t)
	other := testenv.NewTestPKI(t, "Some Other CA")
	for _, tc := range []struct {
		name    string
		user    string
		tls     conn.TLS
		wantTLS bool
		wantErr string // "" = connects
	}{
		{"disabled", "root", conn.TLS{Mode: "disabled"}, false, ""},
		{"default (preferred)", "root", conn.TLS{}, true, ""},
		{"preferred", "root", conn.TLS{Mode: "preferred"}, true, ""},
		{"required", "root", conn.TLS{Mode: "required"}, true, ""},
		{"required, a CA that does not match is not used", "root", conn.TLS{Mode: "required", CAFile: other.CAFile}, true, ""},
		{"verify-ca", "root", conn.TLS{Mode: "verify-ca", CAFile: e.ca}, true, ""},
		{"verify-ca ignores the name", "root", conn.TLS{Mode: "verify-ca", CAFile: e.ca, ServerName: "wrong.example"}, true, ""},
		{"verify-ca wrong CA", "root", conn.TLS{Mode: "verify-ca", CAFile: other.CAFile}, false, "verify-ca: the server certificate is not trusted by ca_file " + other.CAFile},
		{"verify-ca system roots", "root", conn.TLS{Mode: "verify-ca"}, false, "not trusted by the system roots (no ca_file)"},
		{"verify-identity", "root", conn.TLS{Mode: "verify-identity", CAFile: e.ca}, true, ""},
		{"verify-identity server_name localhost", "root", conn.TLS{Mode: "verify-identity", CAFile: e.ca, ServerName: "localhost"}, true, ""},
		{"verify-identity wrong name", "root", conn.TLS{Mode: "verify-identity", CAFile: e.ca, ServerName: "wrong.example"}, false, "not wrong.example"},
		{"verify-identity wrong CA", "root", conn.TLS{Mode: "verify-identity", CAFile: other.CAFile}, false, "certificate signed by unknown authority"},
		{"REQUIRE SSL account, disabled", "ops_tls", conn.TLS{Mode: "disabled"}, false, "Access denied"},
		{"REQUIRE SSL account, required", "ops_tls", conn.TLS{Mode: "required"}, true, ""},
		{"REQUIRE X509 account without a certificate", "ops_x509", conn.TLS{Mode: "verify-identity", CAFile: e.ca}, false, "Access denied"},
		{"REQUIRE X509 account with cert_file/key_file", "ops_x509", conn.TLS{Mode: "verify-identity", CAFile: e.ca, CertFile: e.clientCert, KeyFile: e.clientKey}, true, ""},
		{"REQUIRE X509 account, preferred", "ops_x509", conn.TLS{Mode: "preferred", CertFile: e.clientCert, KeyFile: e.clientKey}, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cipher, err := sslCipher(t, tlsTarget(t, tc.user, tc.tls))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Connect: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("connected (Ssl_cipher %q), want an error containing %q", cipher, tc.wantErr)
			case tc.wantErr != "":
				if !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "127.0.0.1:") {
					t.Fatalf("error %q does not contain %q and the address", err, tc.wantErr)
				}
				t.Logf("%v", err)
				return
			}
			if (cipher != "") != tc.wantTLS {
				t.Errorf("Ssl_cipher = %q, want TLS %v", cipher, tc.wantTLS)
			}
		})
	}
}

// TestTLSPreferredFallback: the shared MariaDB on 3306 has no TLS: preferred
// falls back to plaintext (again on every new connection), required fails.
func TestTLSPreferredFallback(t *testing.T) {
	testenv.RequireIT(t)
	addr := testenv.Getenv("OPS_IT_MYSQL_ADDR", "127.0.0.1:3306")
	host, p, _ := strings.Cut(addr, ":")
	port, _ := strconv.Atoi(p)
	m := conn.Config{Host: host, Port: port, User: "root", Timeout: 10 * time.Second}
	db := mysqltest.OpenDB(t, m)
	var ssl string
	if err := db.QueryRow("SELECT @@have_ssl").Scan(&ssl); err != nil {
		t.Fatal(err)
	}
	if ssl == "YES" {
		t.Fatalf("the server on %s has TLS; this test needs one without", addr)
	}
	for i := range 3 { // new connections each time: the fallback must not stick to the connector
		c, err := db.Conn(context.Background())
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		defer c.Close()
	}
	m.TLS.Mode = "required"
	_, err := sslCipher(t, m)
	if !errors.Is(err, gomysql.ErrNoTLS) || !strings.Contains(err.Error(), "tls mode required") {
		t.Errorf("required against a server without TLS: %v", err)
	}
}

// TestTLSUnixSocket: preferred is not used over a Unix socket (like the
// mysql client); required is.
func TestTLSUnixSocket(t *testing.T) {
	testenv.RequireIT(t)
	sock := testenv.Getenv("OPS_IT_MYSQL2_SOCKET", "/var/lib/ops-test/mariadb2/mysqld.sock")
	for mode, want := range map[string]bool{"": false, "preferred": false, "required": true} {
		cipher, err := sslCipher(t, conn.Config{Socket: sock, User: "root", TLS: conn.TLS{Mode: mode}})
		if err != nil {
			t.Fatalf("mode %q: %v", mode, err)
		}
		if (cipher != "") != want {
			t.Errorf("mode %q over the socket: Ssl_cipher %q, want TLS %v", mode, cipher, want)
		}
	}
}

// TestDumpOverVerifyIdentity dumps a small database from mariadb2 with
// verify-identity and checks from the server's counters that its
// connections were TLS.
func TestDumpOverVerifyIdentity(t *testing.T) {
	testenv.RequireIT(t)
	e := itTLSEnv(t)
	admin := mysqltest.OpenDB(t, mysqltest.TgtMySQL(t))
	name := mysqltest.UniqueName("ops_it_tls_")
	t.Cleanup(func() { mysqltest.DropDatabases(t, admin, name) })
	s := mysqltest.NewSession(t, admin)
	s.Exec("CREATE DATABASE "+sqltext.QuoteIdent(name), "USE "+sqltext.QuoteIdent(name),
		"CREATE TABLE t (id INT PRIMARY KEY, c VARCHAR(50))",
		"INSERT INTO t SELECT seq, CONCAT('row ', seq) FROM seq_1_to_5000",
		"CREATE TABLE u (k VARCHAR(10) PRIMARY KEY)", "INSERT INTO u VALUES ('a'), ('b')")
	before := globalStatus(t, admin, "Ssl_accepts")

	m := tlsTarget(t, "ops_x509", conn.TLS{Mode: "verify-identity", CAFile: e.ca, CertFile: e.clientCert, KeyFile: e.clientKey})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := Dump(ctx, DumpOptions{MySQL: m, Databases: []string{name}, Threads: 2, Checksums: true}, io.Discard)
	if err != nil {
		t.Fatalf("Dump over verify-identity: %v", err)
	}
	rows := map[string]int64{}
	for _, ts := range res.Tables {
		rows[ts.Name] = ts.Rows
	}
	if rows["t"] != 5000 || rows["u"] != 2 {
		t.Errorf("rows dumped: %v", rows)
	}
	after := globalStatus(t, admin, "Ssl_accepts")
	if after-before < 3 { // the coordinator and two readers at least
		t.Errorf("Ssl_accepts went from %d to %d: the dump's connections were not TLS", before, after)
	}
	t.Logf("dump over TLS: %d tables, %d raw bytes, %d TLS connections accepted", len(res.Tables), res.RawBytes, after-before)
}

func globalStatus(t *testing.T, db *sql.DB, name string) int64 {
	t.Helper()
	var k, v string
	if err := db.QueryRow(fmt.Sprintf("SHOW GLOBAL STATUS LIKE '%s'", name)).Scan(&k, &v); err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		t.Fatalf("%s = %q", name, v)
	}
	return n
}
