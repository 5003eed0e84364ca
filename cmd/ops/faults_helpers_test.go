package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"

	"github.com/opsteam/ops/internal/testenv"
	"github.com/opsteam/ops/internal/testenv/faults"
)

// faultSource creates faults_<kind>_<random> on the source server (root
// over its socket) with table t of rows × 1 KiB of random bytes
// (incompressible), dropped when the test ends.
func faultSource(t *testing.T, kind string, rows int) (db *sql.DB, sock, name string) {
	t.Helper()
	testenv.RequireIT(t)
	sock = testenv.Getenv("OPS_IT_MYSQL_SOCKET", "/run/mysqld/mysqld.sock")
	db = itOpen(t, "root@unix("+sock+")/", "scripts/services.sh start mariadb")
	name = fmt.Sprintf("faults_%s_%d", kind, rand.Uint32())
	t.Cleanup(func() { db.Exec("DROP DATABASE IF EXISTS " + name) })
	for _, q := range []string{"CREATE DATABASE {db}", "CREATE TABLE {db}.t (id INT PRIMARY KEY, b BLOB)",
		fmt.Sprintf("INSERT INTO {db}.t SELECT seq, RANDOM_BYTES(1024) FROM {db}.seq_1_to_%d", rows)} {
		if _, err := db.Exec(strings.ReplaceAll(q, "{db}", name)); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return db, sock, name
}

// faultRestoreServer is the restore target (mariadb2 on 3307).
func faultRestoreServer(t *testing.T) (db *sql.DB, host, port string) {
	t.Helper()
	addr2 := testenv.Getenv("OPS_IT_MYSQL2_ADDR", "127.0.0.1:3307")
	db = itOpen(t, "root@tcp("+addr2+")/", "scripts/services.sh start mariadb2")
	host, port, _ = strings.Cut(addr2, ":")
	return db, host, port
}

// faultSwift puts a proxy in front of the real Swift and returns it with
// the target's YAML (container ops-faults-<random>, removed at the end).
func faultSwift(t *testing.T, extra string) (*faults.Proxy, string) {
	t.Helper()
	sw := swiftIT{
		auth:      testenv.Getenv("OPS_IT_SWIFT_AUTH", "http://127.0.0.1:8080/auth/v1.0"),
		user:      testenv.Getenv("OPS_IT_SWIFT_USER", "test:tester"),
		keyFile:   testenv.Getenv("OPS_IT_SWIFT_KEY_FILE", "/var/lib/ops-test/swift/tester.key"),
		container: fmt.Sprintf("ops-faults-%d", rand.Uint32()),
	}
	au, err := url.Parse(sw.auth)
	if err != nil {
		t.Fatal(err)
	}
	p := faults.New(t, au.Host)
	proxied := *au
	proxied.Host = p.Addr // tempauth's storage URL follows the Host asked
	t.Cleanup(func() {
		if strings.Contains(sw.cli(t, "list"), sw.container) {
			sw.cli(t, "delete", sw.container)
		}
		if strings.Contains(sw.cli(t, "list"), sw.container+"_segments") {
			sw.cli(t, "delete", sw.container+"_segments")
		}
	})
	return p, fmt.Sprintf(`      type: swift
      auth_url: %s
      user: "%s"
      key_file: %s
      container: %s
      segment_size: 1MiB
%s`, proxied.String(), sw.user, sw.keyFile, sw.container, extra)
}

// faultS3 puts a proxy in front of the S3 API and returns it with the
// target's YAML (bucket ops-faults-<random>, created now, removed at the end).
func faultS3(t *testing.T, extra string) (*faults.Proxy, string) {
	t.Helper()
	s3 := newS3IT(t)
	s3.bucket = fmt.Sprintf("ops-faults-%016x", rand.Uint64())
	u, err := url.Parse(s3.endpoint)
	if err != nil {
		t.Fatal(err)
	}
	p := faults.New(t, u.Host)
	s3.s3cmd(t, "mb", "s3://"+s3.bucket)
	return p, fmt.Sprintf(`      type: s3
      endpoint: http://%s
      bucket: %s
      access_key_id: "%s"
      secret_access_key_file: %s
      path_style: true
      part_size: 5MiB
%s`, p.Addr, s3.bucket, s3.key, s3.secretFile, extra)
}

// faultConfig writes a config with target "t" (YAML of faultSwift or
// faultS3, or a local one) and job app backing up db with the given mysql
// and restore_mysql mappings.
func faultConfig(t *testing.T, target, mysql, restoreMySQL, db, jobExtra string) string {
	t.Helper()
	return writeConfig(t, fmt.Sprintf(`storage:
  targets:
    t:
%s
backup:
  jobs:
    - name: app
      target: t
      mysql: %s
      restore_mysql: %s
      databases: [%s]
%s`, strings.TrimRight(target, "\n"), mysql, restoreMySQL, db, jobExtra))
}

type faultListed struct {
	ID       string
	Complete bool
	Size     int64
}

// faultList runs backup list --output json (no fault on the way).
func faultList(t *testing.T, cfg string) []faultListed {
	t.Helper()
	code, out, stderr := runOps(t, "--config", cfg, "backup", "list", "--output", "json")
	var l []faultListed
	if code != 0 || json.Unmarshal([]byte(out), &l) != nil {
		t.Fatalf("backup list: exit %d\n%s\n%s", code, out, stderr)
	}
	return l
}

// sameTable compares CHECKSUM TABLE of a.t and b.t.
func sameTable(t *testing.T, db1 *sql.DB, name1 string, db2 *sql.DB, name2 string) {
	t.Helper()
	var n1, n2 string
	var c1, c2 sql.NullString
	if err := db1.QueryRow("CHECKSUM TABLE "+name1+".t").Scan(&n1, &c1); err != nil {
		t.Fatal(err)
	}
	if err := db2.QueryRow("CHECKSUM TABLE "+name2+".t").Scan(&n2, &c2); err != nil {
		t.Fatal(err)
	}
	if !c1.Valid || !c2.Valid || c1.String != c2.String {
		t.Fatalf("CHECKSUM TABLE: source %v, restored %v", c1, c2)
	}
	t.Logf("CHECKSUM TABLE %s.t = %s.t = %s", name1, name2, c1.String)
}

// retried reports whether stderr logs a retry of an operation whose name
// starts with op (empty: any).
func retried(stderr, op string) bool {
	for _, l := range strings.Split(stderr, "\n") {
		if strings.Contains(l, `msg="retrying store operation"`) && (strings.Contains(l, `op="`+op) || strings.Contains(l, " op="+op)) {
			return true
		}
	}
	return false
}
