package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/opsteam/ops/backup"
	"github.com/opsteam/ops/backup/catalog"
	"github.com/opsteam/ops/backup/storage/local"
	"github.com/opsteam/ops/internal/testenv"
)

// attackBed is one job backing up database name into a local directory,
// with a second, unrelated database (bystander) on the same server.
type attackBed struct {
	db                 *sql.DB
	cfg, dir, name, by string
	manifest, object   string
}

func newAttackBed(t *testing.T) *attackBed {
	t.Helper()
	db, sock, name := itSource(t, "atk",
		"CREATE TABLE {db}.t (id INT PRIMARY KEY, v VARCHAR(20))",
		"INSERT INTO {db}.t VALUES (1,'one'),(2,'two')")
	by := name + "_bystander"
	for _, q := range []string{"CREATE DATABASE " + by, "CREATE TABLE " + by + ".keep (id INT PRIMARY KEY)", "INSERT INTO " + by + ".keep VALUES (42)"} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { db.Exec("DROP DATABASE IF EXISTS " + by) })
	dir := t.TempDir()
	cfg := writeConfig(t, fmt.Sprintf(`storage:
  targets:
    local: {type: local, path: %s}
backup:
  jobs:
    - name: atk
      mysql: {socket: %s, user: root}
      databases: [%s]
`, filepath.Join(dir, "b"), sock, name))
	if code, out, stderr := runOps(t, "--config", cfg, "backup", "run"); code != 0 {
		t.Fatalf("backup run: %d\n%s\n%s", code, out, stderr)
	}
	code, out, _ := runOps(t, "--config", cfg, "backup", "list", "--output", "json")
	var list []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 1 {
		t.Fatalf("list: %d %s", code, out)
	}
	return &attackBed{db: db, cfg: cfg, dir: filepath.Join(dir, "b"), name: name, by: by,
		manifest: list[0]["manifest"].(string), object: list[0]["object"].(string)}
}

// tamper rewrites the stored SQL through edit and updates the manifest's
// size, SHA-256 and chunk hashes to match and signs it with the job's key,
// as an attacker with write access to the target and the key would, so
// that only the restorer's checks of the SQL itself stand in the way.
func (b *attackBed) tamper(t *testing.T, edit func(sql string) string) {
	t.Helper()
	obj := filepath.Join(b.dir, b.object)
	raw, err := os.ReadFile(obj)
	if err != nil {
		t.Fatal(err)
	}
	dec, _ := zstd.NewReader(bytes.NewReader(raw))
	plain, err := io.ReadAll(dec)
	dec.Close()
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := zstd.NewWriter(nil)
	out := enc.EncodeAll([]byte(edit(string(plain))), nil)
	if err := os.WriteFile(obj, out, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(out)
	b.sign(t, func(m *catalog.Manifest) {
		m.StreamSHA256, m.Object.SHA256, m.Object.Size = hex.EncodeToString(sum[:]), hex.EncodeToString(sum[:]), int64(len(out))
		m.Chunks = &catalog.ChunkHashes{Size: backup.ChunkSize}
		for off := 0; off < len(out); off += backup.ChunkSize {
			c := sha256.Sum256(out[off:min(off+backup.ChunkSize, len(out))])
			m.Chunks.SHA256 = append(m.Chunks.SHA256, hex.EncodeToString(c[:]))
		}
	})
}

// sign rewrites the manifest through edit and signs it with the job's
// manifest key (created by the first backup beside the config), as an
// attacker who also holds the key could.
func (b *attackBed) sign(t *testing.T, edit func(m *catalog.Manifest)) {
	t.Helper()
	var m catalog.Manifest
	data, _ := os.ReadFile(filepath.Join(b.dir, b.manifest))
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	edit(&m)
	key, err := os.ReadFile(filepath.Join(filepath.Dir(b.cfg), "keys", "atk.key"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := catalog.WriteManifest(context.Background(), local.New(b.dir), path.Dir(b.manifest), &m, bytes.TrimRight(key, "\r\n")); err != nil {
		t.Fatal(err)
	}
}

func (b *attackBed) privileges(t *testing.T) string {
	t.Helper()
	var s string
	if err := b.db.QueryRow("SELECT GROUP_CONCAT(CONCAT(User,'@',Host,'=',Priv) ORDER BY User, Host SEPARATOR '\n') FROM mysql.global_priv").Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func (b *attackBed) exists(t *testing.T, db string) bool {
	t.Helper()
	var n int
	if err := b.db.QueryRow("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", db).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

func (b *attackBed) bystanderIntact(t *testing.T) {
	t.Helper()
	var n int
	if err := b.db.QueryRow("SELECT COUNT(*) FROM " + b.by + ".keep WHERE id = 42").Scan(&n); err != nil || n != 1 {
		t.Errorf("the bystander database was touched: %d rows, %v", n, err)
	}
}

// Each attack on a restore, through `ops backup restore` against the real
// server: refused (exit code as documented), nothing outside the restore
// touched, nothing half-written left behind.
func TestRestoreAttacks(t *testing.T) {
	testenv.RequireIT(t)
	injections := map[string]string{
		"grant":         "GRANT ALL ON *.* TO 'opsevil'@'localhost' IDENTIFIED BY 'x';\n",
		"drop other":    "DROP TABLE IF EXISTS `%BY%`.`keep`;\n",
		"create other":  "CREATE TABLE `%BY%`.`planted` (id INT);\n",
		"outfile":       "SELECT * FROM mysql.user INTO OUTFILE '/tmp/ops-atk-outfile';\n",
		"set global":    "SET GLOBAL general_log = 1;\n",
		"load data":     "LOAD DATA INFILE '/etc/passwd' INTO TABLE t;\n",
		"client cmd":    "\\! touch /tmp/ops-atk-client\n",
		"subquery rows": "INSERT INTO `t` VALUES (9,(SELECT authentication_string FROM mysql.user LIMIT 1));\n",
	}
	for name, inj := range injections {
		t.Run("injected "+name, func(t *testing.T) {
			b := newAttackBed(t)
			before := b.privileges(t)
			b.tamper(t, func(s string) string {
				// after the table's structure, inside the database's section
				i := strings.Index(s, "\n--\n-- Data of table")
				return s[:i] + "\n" + strings.ReplaceAll(inj, "%BY%", b.by) + s[i:]
			})
			if _, err := b.db.Exec("DROP DATABASE " + b.name); err != nil {
				t.Fatal(err)
			}
			code, out, stderr := runOps(t, "--config", b.cfg, "backup", "restore", "--job", "atk")
			if code != 3 || !strings.Contains(stderr, "refused") || !strings.Contains(stderr, "statement ") {
				t.Fatalf("restore of an injected stream: code %d\n%s\n%s", code, out, stderr)
			}
			if strings.Contains(stderr, "authentication_string") && name == "subquery rows" && strings.Contains(stderr, "(9,") {
				t.Errorf("the refusal shows row data: %s", stderr)
			}
			if b.exists(t, b.name) {
				t.Errorf("the half-restored database %s was left behind", b.name)
			}
			if after := b.privileges(t); after != before {
				t.Errorf("privileges changed:\n%s\n→\n%s", before, after)
			}
			b.bystanderIntact(t)
			for _, f := range []string{"/tmp/ops-atk-outfile", "/tmp/ops-atk-client"} {
				if _, err := os.Stat(f); err == nil {
					os.Remove(f)
					t.Errorf("%s was created", f)
				}
			}
		})
	}

	t.Run("system schema target", func(t *testing.T) {
		b := newAttackBed(t)
		code, _, stderr := runOps(t, "--config", b.cfg, "backup", "restore", "--job", "atk", "--database", b.name+"=mysql")
		if code != 2 || !strings.Contains(stderr, "system database") {
			t.Fatalf("--database …=mysql: code %d %s", code, stderr)
		}
	})

	t.Run("existing target needs --replace", func(t *testing.T) {
		b := newAttackBed(t)
		code, _, stderr := runOps(t, "--config", b.cfg, "backup", "restore", "--job", "atk", "--database", b.name+"="+b.by)
		if code != 2 || !strings.Contains(stderr, "--replace") {
			t.Fatalf("restore onto a non-empty database: code %d %s", code, stderr)
		}
		b.bystanderIntact(t)
		code, out, stderr := runOps(t, "--config", b.cfg, "backup", "restore", "--job", "atk", "--database", b.name+"="+b.by, "--replace")
		if code != 0 {
			t.Fatalf("--replace: code %d\n%s\n%s", code, out, stderr)
		}
		var n int
		if err := b.db.QueryRow("SELECT COUNT(*) FROM " + b.by + ".t").Scan(&n); err != nil || n != 2 {
			t.Fatalf("after --replace: %d rows, %v", n, err)
		}
		if err := b.db.QueryRow("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'keep'", b.by).Scan(&n); err != nil || n != 0 {
			t.Fatalf("--replace kept the old tables: %d", n)
		}
	})

	t.Run("sha mismatch drops what it restored", func(t *testing.T) {
		b := newAttackBed(t)
		// Change a row and leave the manifest alone: the stream restores,
		// but its SHA-256 differs at the end.
		b.tamper(t, func(s string) string { return strings.Replace(s, "'two'", "'TWO'", 1) })
		b.sign(t, func(m *catalog.Manifest) { m.StreamSHA256 = strings.Repeat("0", 64) })
		copyDB := b.name + "_c"
		t.Cleanup(func() { b.db.Exec("DROP DATABASE IF EXISTS " + copyDB) })
		code, _, stderr := runOps(t, "--config", b.cfg, "backup", "restore", "--job", "atk", "--database", b.name+"="+copyDB)
		if code != 3 || !strings.Contains(stderr, "SHA-256") {
			t.Fatalf("SHA mismatch: code %d %s", code, stderr)
		}
		if b.exists(t, copyDB) {
			t.Errorf("%s was left behind after the SHA-256 mismatch", copyDB)
		}
		code, _, _ = runOps(t, "--config", b.cfg, "backup", "restore", "--job", "atk", "--database", b.name+"="+copyDB, "--keep-partial")
		if code != 3 || !b.exists(t, copyDB) {
			t.Errorf("--keep-partial: code %d, kept %v", code, b.exists(t, copyDB))
		}
	})

	t.Run("corrupt manifest", func(t *testing.T) {
		b := newAttackBed(t)
		id := strings.Split(b.manifest, "/")[1]
		// a second, good backup
		if code, _, stderr := runOps(t, "--config", b.cfg, "backup", "run"); code != 0 {
			t.Fatal(stderr)
		}
		os.WriteFile(filepath.Join(b.dir, b.manifest), []byte("{garbage"), 0o600)
		code, out, stderr := runOps(t, "--config", b.cfg, "backup", "list", "--all")
		if code != 0 || !strings.Contains(out, "CORRUPT") || !strings.Contains(out, "complete") {
			t.Fatalf("list: code %d\n%s\n%s", code, out, stderr)
		}
		if code, out, _ := runOps(t, "--config", b.cfg, "backup", "verify", "--job", "atk", "--backup", id); code != 1 || !strings.Contains(out, "CORRUPT") {
			t.Errorf("verify of the corrupt backup: code %d %s", code, out)
		}
		if code, _, stderr := runOps(t, "--config", b.cfg, "backup", "verify", "--job", "atk"); code != 0 {
			t.Errorf("verify latest (the corrupt one is older): code %d %s", code, stderr)
		}
		// A corrupt backup newer than the newest complete one fails verify.
		if code, _, stderr := runOps(t, "--config", b.cfg, "backup", "run"); code != 0 {
			t.Fatal(stderr)
		}
		_, out, _ = runOps(t, "--config", b.cfg, "backup", "list", "--output", "json")
		var list []map[string]any
		json.Unmarshal([]byte(out), &list)
		os.WriteFile(filepath.Join(b.dir, list[0]["manifest"].(string)), []byte("[]"), 0o600)
		if code, out, _ := runOps(t, "--config", b.cfg, "backup", "verify", "--job", "atk"); code != 1 || !strings.Contains(out, "CORRUPT") || !strings.Contains(out, "OK atk") {
			t.Errorf("verify latest with a newer corrupt backup: code %d %s", code, out)
		}
		copyDB := b.name + "_c2"
		t.Cleanup(func() { b.db.Exec("DROP DATABASE IF EXISTS " + copyDB) })
		if code, _, stderr := runOps(t, "--config", b.cfg, "backup", "restore", "--job", "atk", "--database", b.name+"="+copyDB); code != 0 {
			t.Errorf("restore latest with a corrupt older manifest: code %d %s", code, stderr)
		}
	})

	t.Run("restore test catches changed rows", func(t *testing.T) {
		for _, c := range []struct {
			label, edit string
			checksums   bool
			want        string
		}{
			{"value changed, checksums on", "'two'→'TWO'", true, " digest xxh64sum:"},
			{"row dropped, checksums off", "row 2 dropped", false, " rows 2 restored 1"},
		} {
			b := newAttackBed(t)
			if !c.checksums {
				cfg, _ := os.ReadFile(b.cfg)
				os.WriteFile(b.cfg, []byte(strings.Replace(string(cfg), "      databases:", "      checksums: false\n      databases:", 1)), 0o600)
				if code, _, stderr := runOps(t, "--config", b.cfg, "backup", "run"); code != 0 {
					t.Fatal(stderr)
				}
				_, out, _ := runOps(t, "--config", b.cfg, "backup", "list", "--output", "json")
				var list []map[string]any
				json.Unmarshal([]byte(out), &list)
				b.manifest, b.object = list[0]["manifest"].(string), list[0]["object"].(string)
			}
			b.tamper(t, func(s string) string {
				if c.checksums {
					return strings.Replace(s, "'two'", "'TWO'", 1)
				}
				return strings.Replace(s, ",(2,'two')", "", 1)
			})
			code, out, stderr := runOps(t, "--config", b.cfg, "backup", "verify", "--job", "atk", "--restore-test")
			if code != 1 || !strings.Contains(out, "MISMATCH") || !strings.Contains(out, c.want) {
				t.Errorf("%s (%s): verify --restore-test: code %d\n%s\n%s", c.label, c.edit, code, out, stderr)
			}
		}
	})

	t.Run("garbage stream", func(t *testing.T) {
		b := newAttackBed(t)
		b.tamper(t, func(string) string { return "DROP DATABASE IF EXISTS `" + b.by + "`;\nSELECT 'not an ops dump';\n" })
		copyDB := b.name + "_g"
		code, _, stderr := runOps(t, "--config", b.cfg, "backup", "restore", "--job", "atk", "--database", b.name+"="+copyDB)
		if code != 3 || !strings.Contains(stderr, "not an ops dump") {
			t.Fatalf("garbage stream: code %d %s", code, stderr)
		}
		b.bystanderIntact(t)
	})
}
