package dump

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opsteam/ops/backup/mysql/conn"
	"github.com/opsteam/ops/backup/mysql/schema"
	"github.com/opsteam/ops/backup/mysql/sqltext"
	"github.com/opsteam/ops/internal/secret"
)

func TestAppendValue(t *testing.T) {
	cases := []struct {
		v    []byte
		null bool
		k    sqltext.ValueKind
		want string
	}{
		{nil, true, sqltext.KindString, "NULL"},
		{nil, true, sqltext.KindBinary, "NULL"},
		{[]byte{}, false, sqltext.KindString, "''"},
		{[]byte{}, false, sqltext.KindBinary, "''"}, // empty binary is not NULL
		{[]byte("123.4500"), false, sqltext.KindNumber, "123.4500"},
		{[]byte("-0"), false, sqltext.KindNumber, "-0"},
		{[]byte{0, 0xff, '\'', '\\'}, false, sqltext.KindBinary, "0x00FF275C"},
		{[]byte("a'b\"c\\d\ne\rf\x00g\x1ah"), false, sqltext.KindString, `'a\'b\"c\\d\ne\rf\0g\Zh'`},
		{[]byte("😀 ü"), false, sqltext.KindString, "'😀 ü'"},
		{[]byte("{\"a\": \"x\\\"y\"}"), false, sqltext.KindString, `'{\"a\": \"x\\\"y\"}'`},
		{[]byte("0000-00-00 00:00:00.000000"), false, sqltext.KindString, "'0000-00-00 00:00:00.000000'"},
	}
	for _, c := range cases {
		got := string(sqltext.AppendValue(nil, c.v, c.null, c.k))
		if got != c.want {
			t.Errorf("appendValue(%q, null=%v, kind=%d) = %s, want %s", c.v, c.null, c.k, got, c.want)
		}
	}
}

func TestKindOf(t *testing.T) {
	for typ, want := range map[string]sqltext.ValueKind{
		"INT": sqltext.KindNumber, "UNSIGNED BIGINT": sqltext.KindNumber, "DECIMAL": sqltext.KindNumber, "FLOAT": sqltext.KindNumber, "YEAR": sqltext.KindNumber,
		"BINARY": sqltext.KindBinary, "VARBINARY": sqltext.KindBinary, "BLOB": sqltext.KindBinary, "LONGBLOB": sqltext.KindBinary, "BIT": sqltext.KindBinary, "GEOMETRY": sqltext.KindBinary,
		"CHAR": sqltext.KindString, "TEXT": sqltext.KindString, "JSON": sqltext.KindString, "ENUM": sqltext.KindString, "DATETIME": sqltext.KindString, "TIME": sqltext.KindString, "": sqltext.KindString,
	} {
		if got := sqltext.KindOf(typ); got != want {
			t.Errorf("kindOf(%q) = %d, want %d", typ, got, want)
		}
	}
}

func TestAppendDriverValue(t *testing.T) {
	cases := []struct {
		v    any
		want string
	}{
		{int64(math.MinInt64), "-9223372036854775808"},
		{uint64(math.MaxUint64), "18446744073709551615"},
		{float64(1e-9), "1e-09"},
		{float32(3.4028235e38), "3.4028235e+38"},
		{math.MaxFloat64, "1.7976931348623157e+308"},
		{float64(0.1), "0.1"},
		{nil, "NULL"},
	}
	for _, c := range cases {
		got, err := sqltext.AppendDriverValue(nil, c.v, sqltext.KindNumber)
		if err != nil || string(got) != c.want {
			t.Errorf("appendDriverValue(%v) = %s, %v; want %s", c.v, got, err, c.want)
		}
	}
	if _, err := sqltext.AppendDriverValue(nil, time.Now(), sqltext.KindString); err == nil {
		t.Errorf("time.Time accepted: parseTime must never be on")
	}
}

func TestQuoteIdent(t *testing.T) {
	if got := sqltext.QuoteIdent("a`b c"); got != "`a``b c`" {
		t.Errorf("QuoteIdent = %s", got)
	}
}

func TestKeyset(t *testing.T) {
	pk := []schema.ColMeta{{Name: "a"}, {Name: "b`"}}
	if got := keysetGT(pk, []string{"1", "'x'"}); got != "(`a` > 1) OR (`a` = 1 AND `b``` > 'x')" {
		t.Errorf("keysetGT = %s", got)
	}
	if got := keysetLE(pk, []string{"1", "'x'"}); got != "(`a` < 1) OR (`a` = 1 AND `b``` <= 'x')" {
		t.Errorf("keysetLE = %s", got)
	}
	if got := keysetLE(pk[:1], []string{"5"}); got != "(`a` <= 5)" {
		t.Errorf("keysetLE single = %s", got)
	}
}

func TestCreateDatabaseSQL(t *testing.T) {
	want := "CREATE DATABASE IF NOT EXISTS `x` /*!40100 DEFAULT CHARACTER SET utf8mb4 */"
	for _, in := range []string{"CREATE DATABASE `x` /*!40100 DEFAULT CHARACTER SET utf8mb4 */", want,
		"CREATE DATABASE /*!32312 IF NOT EXISTS*/ `x` /*!40100 DEFAULT CHARACTER SET utf8mb4 */"} {
		if got := createDatabaseSQL(in, "x"); got != want {
			t.Errorf("createDatabaseSQL(%q) = %s", in, got)
		}
	}
	if got := createDatabaseSQL("CREATE DATABASE `a``b`", "a`b"); got != "CREATE DATABASE IF NOT EXISTS `a``b`" {
		t.Errorf("no options: %s", got)
	}
}

func TestUnqualifySequences(t *testing.T) {
	in := "`id` int(11) NOT NULL DEFAULT nextval(`my``db`.`s1`), `b` int DEFAULT nextval(`other`.`s2`)"
	want := "`id` int(11) NOT NULL DEFAULT nextval(`s1`), `b` int DEFAULT nextval(`other`.`s2`)"
	if got := unqualifySequences(in, "my`db"); got != want {
		t.Errorf("unqualifySequences =\n%s\nwant\n%s", got, want)
	}
}

func TestHasClientComment(t *testing.T) {
	for body, want := range map[string]bool{
		"BEGIN SELECT 1; END":                false,
		"BEGIN -- x\nSELECT 1; END":          true,
		"BEGIN # x\nEND":                     true,
		"BEGIN /* x */ END":                  true,
		"BEGIN /*!50000 x */ END":            false,
		"SELECT '-- not # a /* comment'":     false,
		"SELECT 'it''s', \"a\\\"b -- x\"":    false,
		"SELECT 1--1":                        false,
		"SELECT `a -- b`":                    false,
		"SELECT 'x' -- tail":                 true,
		"BEGIN SET @a = 1;\n--\nEND":         true,
		"CREATE PROCEDURE p() SELECT '😀 ;;'": false,
	} {
		if got := hasClientComment(body); got != want {
			t.Errorf("hasClientComment(%q) = %v, want %v", body, got, want)
		}
	}
}

func TestLiteralIn(t *testing.T) {
	if got := literalIn("utf8mb4", "a'b"); got != `_utf8mb4 'a\'b'` {
		t.Errorf("literalIn utf8mb4 = %s", got)
	}
	if got := literalIn("sjis", "\x95\x5c"); got != "_sjis 0x955C" {
		t.Errorf("literalIn sjis = %s", got)
	}
}

func TestDelimiterFor(t *testing.T) {
	if d := delimiterFor("SELECT 1"); d != ";;" {
		t.Errorf("delimiterFor = %s", d)
	}
	if d := delimiterFor("SELECT ';;'"); d != "$$" {
		t.Errorf("delimiterFor = %s", d)
	}
	if d := delimiterFor("';;' '$$' '//' ';;;;' '$$$$' '////'"); strings.Contains("';;' '$$' '//' ';;;;' '$$$$' '////'", d) {
		t.Errorf("delimiterFor picked %s, which occurs in the body", d)
	}
}

func TestParseVersion(t *testing.T) {
	maj, min, patch := conn.ParseVersion("10.11.19-MariaDB-0+deb12u1")
	if maj != 10 || min != 11 || patch != 19 {
		t.Errorf("parseVersion = %d.%d.%d", maj, min, patch)
	}
	s := conn.ServerInfo{MariaDB: true, Major: 10, Minor: 4, Patch: 0}
	if !s.CastFloat() || !s.ExecuteImmediate() || s.MySQL8() {
		t.Errorf("version gates wrong for %+v", s)
	}
	my := conn.ServerInfo{Major: 8, Minor: 0, Patch: 16}
	if my.CastFloat() || !my.MySQL8() || my.ExecuteImmediate() {
		t.Errorf("version gates wrong for %+v", my)
	}
}

func TestDumpOptionErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := Dump(ctx, DumpOptions{Threads: 2, Consistency: "sometimes"}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "sometimes") {
		t.Errorf("bad consistency: %v", err)
	}
	if _, err := Dump(ctx, DumpOptions{Threads: 2, ExcludeTables: []string{"db.[x"}}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "db.[x") {
		t.Errorf("bad pattern: %v", err)
	}
}

// ---- connection settings

func TestParseDefaults(t *testing.T) {
	in := `# comment
[mysqld]
user = mysql
password = server-side
[client]
user = backup
password = "p#ss w\"rd" # trailing
host=db.example.net
port = 3307
[mysql]
user = ignored
[client-mariadb]
socket = /tmp/m.sock
`
	o, err := conn.ParseDefaults(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := conn.ClientOptions{User: "backup", Password: `p#ss w"rd`, HasPassword: true, Host: "db.example.net", Port: 3307, Socket: "/tmp/m.sock"}
	if o != want {
		t.Errorf("parseDefaults = %+v, want %+v", o, want)
	}
	if _, err := conn.ParseDefaults(strings.NewReader("[client]\nport = x\n")); err == nil {
		t.Errorf("bad port accepted")
	}
	if _, err := conn.ParseDefaults(strings.NewReader("[client]\npassword = 'open\n")); err == nil {
		t.Errorf("unterminated quote accepted")
	}
	o, _ = conn.ParseDefaults(strings.NewReader("[client]\npassword = plain value # c\n"))
	if o.Password != "plain value" {
		t.Errorf("unquoted value = %q", o.Password)
	}
}

func noHome() (string, error) { return "", errors.New("no home") }

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	os.WriteFile(pw, []byte("from-file\n"), 0o600)
	cnf := filepath.Join(dir, "my.cnf")
	os.WriteFile(cnf, []byte("[client]\nuser=cnfuser\npassword=cnfpass\nhost=10.0.0.1\nport=3310\n"), 0o600)
	home := filepath.Join(dir, "home")
	os.MkdirAll(home, 0o700)
	os.WriteFile(filepath.Join(home, ".my.cnf"), []byte("[client]\nuser=homeuser\npassword=homepass\n"), 0o600)
	homeFn := func() (string, error) { return home, nil }
	log := slog.New(slog.DiscardHandler)

	cases := []struct {
		name string
		m    conn.Config
		home func() (string, error)
		want conn.Resolved
	}{
		{"default socket", conn.Config{User: "u"}, noHome, conn.Resolved{Net: "unix", Addr: conn.DefaultSocket, User: "u", Password: ""}},
		{"localhost is the socket", conn.Config{Host: "localhost", User: "u"}, noHome, conn.Resolved{Net: "unix", Addr: conn.DefaultSocket, User: "u", Password: ""}},
		{"tcp", conn.Config{Host: "127.0.0.1", Port: 3307, User: "u", Password: secret.New("pw")}, noHome, conn.Resolved{Net: "tcp", Addr: "127.0.0.1:3307", User: "u", Password: "pw"}},
		{"tcp default port", conn.Config{Host: "::1", User: "u"}, noHome, conn.Resolved{Net: "tcp", Addr: "[::1]:3306", User: "u", Password: ""}},
		{"socket wins", conn.Config{Host: "h", Socket: "/s.sock", User: "u"}, noHome, conn.Resolved{Net: "unix", Addr: "/s.sock", User: "u", Password: ""}},
		{"password file", conn.Config{User: "u", PasswordFile: pw}, noHome, conn.Resolved{Net: "unix", Addr: conn.DefaultSocket, User: "u", Password: "from-file"}},
		{"defaults file", conn.Config{DefaultsFile: cnf}, noHome, conn.Resolved{Net: "tcp", Addr: "10.0.0.1:3310", User: "cnfuser", Password: "cnfpass"}},
		{"explicit beats defaults file", conn.Config{DefaultsFile: cnf, User: "x", Password: secret.New("y"), Port: 1}, noHome, conn.Resolved{Net: "tcp", Addr: "10.0.0.1:1", User: "x", Password: "y"}},
		{"~/.my.cnf when nothing set", conn.Config{}, homeFn, conn.Resolved{Net: "unix", Addr: conn.DefaultSocket, User: "homeuser", Password: "homepass"}},
		{"~/.my.cnf not read when a user is set", conn.Config{User: "u"}, homeFn, conn.Resolved{Net: "unix", Addr: conn.DefaultSocket, User: "u", Password: ""}},
	}
	for _, c := range cases {
		got, err := conn.Resolve(c.m, log, c.home)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got != c.want {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
	}
	if _, err := conn.Resolve(conn.Config{PasswordFile: filepath.Join(dir, "missing")}, log, noHome); err == nil {
		t.Errorf("missing password file accepted")
	}
}

func TestPasswordFileWarning(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	os.WriteFile(pw, []byte("secret-value\r\n"), 0o644)
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	got, err := conn.Resolve(conn.Config{User: "u", PasswordFile: pw}, log, noHome)
	if err != nil || got.Password != "secret-value" {
		t.Fatalf("resolve = %+v, %v", got, err)
	}
	if !strings.Contains(logs.String(), "readable by group or others") || strings.Contains(logs.String(), "secret-value") {
		t.Errorf("log = %s", logs.String())
	}
}

func TestConnectErrorHidesPassword(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	const pw = "Sup3r-S3cret-Value"
	m := conn.Config{Socket: filepath.Join(t.TempDir(), "none.sock"), User: "u", Password: secret.New(pw)}
	_, err := conn.Connect(ctx, m, nil)
	if err == nil {
		t.Fatal("connected to a missing socket")
	}
	if strings.Contains(err.Error(), pw) || strings.Contains(fmtAll(m), pw) {
		t.Errorf("password leaked: %v", err)
	}
	if !strings.Contains(err.Error(), "none.sock") {
		t.Errorf("error does not name the endpoint: %v", err)
	}
}

func sprint(f string, v any) string { return fmt.Sprintf(f, v) }

func fmtAll(v any) string {
	return strings.Join([]string{sprint("%v", v), sprint("%+v", v), sprint("%#v", v)}, " ")
}

func TestTLSConfig(t *testing.T) {
	if c, pref, err := conn.TLSConfig(conn.TLS{}, "h"); c != nil || pref || err != nil {
		t.Errorf("disabled: %v %v %v", c, pref, err)
	}
	if _, pref, _ := conn.TLSConfig(conn.TLS{Mode: "preferred"}, "h"); !pref {
		t.Errorf("preferred not mapped")
	}
	if c, _, err := conn.TLSConfig(conn.TLS{Mode: "required"}, "h"); err != nil || !c.InsecureSkipVerify {
		t.Errorf("required: %v %v", c, err)
	}
	if c, _, err := conn.TLSConfig(conn.TLS{Mode: "verify-identity"}, "db.example"); err != nil || c.InsecureSkipVerify || c.ServerName != "db.example" {
		t.Errorf("verify-identity: %+v %v", c, err)
	}
	if _, _, err := conn.TLSConfig(conn.TLS{Mode: "verify-ca", CAFile: "/nonexistent"}, "h"); err == nil {
		t.Errorf("missing CA file accepted")
	}
	if _, _, err := conn.TLSConfig(conn.TLS{Mode: "bogus"}, "h"); err == nil {
		t.Errorf("bogus mode accepted")
	}
}

// The dump and the digests take the threads they are given: the one default
// is the job's (backup.DefaultThreads), nothing below 1 is made up here.
func TestDumpAndDigestRefuseNoConnections(t *testing.T) {
	if _, err := Dump(context.Background(), DumpOptions{}, io.Discard); err == nil || !strings.Contains(err.Error(), "at least 1") {
		t.Errorf("Dump with Threads 0 = %v, want an error asking for at least 1", err)
	}
	if _, err := DigestTables(context.Background(), conn.Config{}, nil, []string{"x"}, 0); err == nil || !strings.Contains(err.Error(), "at least 1") {
		t.Errorf("DigestTables with 0 threads = %v, want an error asking for at least 1", err)
	}
}
