package main

import (
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	_ "github.com/go-sql-driver/mysql"

	"github.com/opsteam/ops/internal/testenv"
)

// itOpen connects to a MariaDB for an integration test; unreachable is a
// failure (never a skip).
func itOpen(t *testing.T, dsn, hint string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Ping(); err != nil {
		t.Fatalf("MariaDB %s is not reachable (%s): %v", dsn, hint, err)
	}
	return db
}

// itSource opens the source server as root over its socket, creates the
// database ops_it_<kind>_<random> with the given statements ({db} stands
// for its name) and drops it when the test ends.
func itSource(t *testing.T, kind string, stmts ...string) (db *sql.DB, sock, name string) {
	t.Helper()
	testenv.RequireIT(t)
	sock = testenv.Getenv("OPS_IT_MYSQL_SOCKET", "/run/mysqld/mysqld.sock")
	db = itOpen(t, "root@unix("+sock+")/", "scripts/services.sh start mariadb")
	name = fmt.Sprintf("ops_it_%s_%d", kind, rand.Uint32())
	t.Cleanup(func() { db.Exec("DROP DATABASE IF EXISTS " + name) })
	for _, q := range append([]string{"CREATE DATABASE {db}"}, stmts...) {
		if _, err := db.Exec(strings.ReplaceAll(q, "{db}", name)); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return db, sock, name
}

// encryptedJob writes a config with one job, name, backing up database db
// of the server at sock (as root) into dir/b, encrypted to a new age
// identity kept in keyFile (the job's identity_file).
func encryptedJob(t *testing.T, name, sock, db string) (cfg, dir, keyFile string, id *age.X25519Identity) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	keyFile = filepath.Join(dir, "key.txt")
	if err := os.WriteFile(keyFile, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg = writeConfig(t, fmt.Sprintf(`storage:
  targets:
    local: {type: local, path: %s}
backup:
  jobs:
    - name: %s
      mysql: {socket: %s, user: root}
      databases: [%s]
      encrypt_to: [%s]
      identity_file: %s
`, filepath.Join(dir, "b"), name, sock, db, id.Recipient(), keyFile))
	return cfg, dir, keyFile, id
}
