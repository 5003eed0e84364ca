package main

import (
	"database/sql"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

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
