package mysql

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opsteam/ops/internal/secret"
)

func TestAppendValue(t *testing.T) {
	cases := []struct {
		v    []byte
		null bool
		k    valueKind
		want string
	}{
		{nil, true, kindString, "NULL"},
		{nil, true, kindBinary, "NULL"},
		{[]byte{}, false, kindString, "''"},
		{[]byte{}, false, kindBinary, "''"}, // empty binary is not NULL
		{[]byte("123.4500"), false, kindNumber, "123.4500"},
		{[]byte("-0"), false, kindNumber, "-0"},
		{[]byte{0, 0xff, '\'', '\\'}, false, kindBinary, "0x00FF275C"},
		{[]byte("a'b\"c\\d\ne\rf\x00g\x1ah"), false, kindString, `'a\'b\"c\\d\ne\rf\0g\Zh'`},
		{[]byte("😀 ü"), false, kindString, "'😀 ü'"},
		{[]byte("{\"a\": \"x\\\"y\"}"), false, kindString, `'{\"a\": \"x\\\"y\"}'`},
		{[]byte("0000-00-00 00:00:00.000000"), false, kindString, "'0000-00-00 00:00:00.000000'"},
	}
	for _, c := range cases {
		got := string(appendValue(nil, c.v, c.null, c.k))
		if got != c.want {
			t.Errorf("appendValue(%q, null=%v, kind=%d) = %s, want %s", c.v, c.null, c.k, got, c.want)
		}
	}
}

func TestKindOf(t *testing.T) {
	for typ, want := range map[string]valueKind{
		"INT": kindNumber, "UNSIGNED BIGINT": kindNumber, "DECIMAL": kindNumber, "FLOAT": kindNumber, "YEAR": kindNumber,
		"BINARY": kindBinary, "VARBINARY": kindBinary, "BLOB": kindBinary, "LONGBLOB": kindBinary, "BIT": kindBinary, "GEOMETRY": kindBinary,
		"CHAR": kindString, "TEXT": kindString, "JSON": kindString, "ENUM": kindString, "DATETIME": kindString, "TIME": kindString, "": kindString,
	} {
		if got := kindOf(typ); got != want {
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
		got, err := appendDriverValue(nil, c.v, kindNumber)
		if err != nil || string(got) != c.want {
			t.Errorf("appendDriverValue(%v) = %s, %v; want %s", c.v, got, err, c.want)
		}
	}
	if _, err := appendDriverValue(nil, time.Now(), kindString); err == nil {
		t.Errorf("time.Time accepted: parseTime must never be on")
	}
}

func TestQuoteIdent(t *testing.T) {
	if got := QuoteIdent("a`b c"); got != "`a``b c`" {
		t.Errorf("QuoteIdent = %s", got)
	}
}

func TestKeyset(t *testing.T) {
	pk := []colMeta{{Name: "a"}, {Name: "b`"}}
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
	maj, min, patch := parseVersion("10.11.19-MariaDB-0+deb12u1")
	if maj != 10 || min != 11 || patch != 19 {
		t.Errorf("parseVersion = %d.%d.%d", maj, min, patch)
	}
	s := serverInfo{MariaDB: true, Major: 10, Minor: 4, Patch: 0}
	if !s.castFloat() || !s.executeImmediate() || s.mysql8() {
		t.Errorf("version gates wrong for %+v", s)
	}
	my := serverInfo{Major: 8, Minor: 0, Patch: 16}
	if my.castFloat() || !my.mysql8() || my.executeImmediate() {
		t.Errorf("version gates wrong for %+v", my)
	}
}

func TestDumpOptionErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := Dump(ctx, DumpOptions{Consistency: "sometimes"}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "sometimes") {
		t.Errorf("bad consistency: %v", err)
	}
	if _, err := Dump(ctx, DumpOptions{ExcludeTables: []string{"db.[x"}}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "db.[x") {
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
	o, err := parseDefaults(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := clientOptions{User: "backup", Password: `p#ss w"rd`, HasPassword: true, Host: "db.example.net", Port: 3307, Socket: "/tmp/m.sock"}
	if o != want {
		t.Errorf("parseDefaults = %+v, want %+v", o, want)
	}
	if _, err := parseDefaults(strings.NewReader("[client]\nport = x\n")); err == nil {
		t.Errorf("bad port accepted")
	}
	if _, err := parseDefaults(strings.NewReader("[client]\npassword = 'open\n")); err == nil {
		t.Errorf("unterminated quote accepted")
	}
	o, _ = parseDefaults(strings.NewReader("[client]\npassword = plain value # c\n"))
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
		m    Config
		home func() (string, error)
		want resolved
	}{
		{"default socket", Config{User: "u"}, noHome, resolved{"unix", DefaultSocket, "u", ""}},
		{"localhost is the socket", Config{Host: "localhost", User: "u"}, noHome, resolved{"unix", DefaultSocket, "u", ""}},
		{"tcp", Config{Host: "127.0.0.1", Port: 3307, User: "u", Password: secret.New("pw")}, noHome, resolved{"tcp", "127.0.0.1:3307", "u", "pw"}},
		{"tcp default port", Config{Host: "::1", User: "u"}, noHome, resolved{"tcp", "[::1]:3306", "u", ""}},
		{"socket wins", Config{Host: "h", Socket: "/s.sock", User: "u"}, noHome, resolved{"unix", "/s.sock", "u", ""}},
		{"password file", Config{User: "u", PasswordFile: pw}, noHome, resolved{"unix", DefaultSocket, "u", "from-file"}},
		{"defaults file", Config{DefaultsFile: cnf}, noHome, resolved{"tcp", "10.0.0.1:3310", "cnfuser", "cnfpass"}},
		{"explicit beats defaults file", Config{DefaultsFile: cnf, User: "x", Password: secret.New("y"), Port: 1}, noHome, resolved{"tcp", "10.0.0.1:1", "x", "y"}},
		{"~/.my.cnf when nothing set", Config{}, homeFn, resolved{"unix", DefaultSocket, "homeuser", "homepass"}},
		{"~/.my.cnf not read when a user is set", Config{User: "u"}, homeFn, resolved{"unix", DefaultSocket, "u", ""}},
	}
	for _, c := range cases {
		got, err := resolve(c.m, log, c.home)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got != c.want {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
	}
	if _, err := resolve(Config{PasswordFile: filepath.Join(dir, "missing")}, log, noHome); err == nil {
		t.Errorf("missing password file accepted")
	}
}

func TestPasswordFileWarning(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	os.WriteFile(pw, []byte("secret-value\r\n"), 0o644)
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	got, err := resolve(Config{User: "u", PasswordFile: pw}, log, noHome)
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
	m := Config{Socket: filepath.Join(t.TempDir(), "none.sock"), User: "u", Password: secret.New(pw)}
	_, err := Connect(ctx, m, nil)
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
	if c, pref, err := tlsConfig(TLS{}, "h"); c != nil || pref || err != nil {
		t.Errorf("disabled: %v %v %v", c, pref, err)
	}
	if _, pref, _ := tlsConfig(TLS{Mode: "preferred"}, "h"); !pref {
		t.Errorf("preferred not mapped")
	}
	if c, _, err := tlsConfig(TLS{Mode: "required"}, "h"); err != nil || !c.InsecureSkipVerify {
		t.Errorf("required: %v %v", c, err)
	}
	if c, _, err := tlsConfig(TLS{Mode: "verify-identity"}, "db.example"); err != nil || c.InsecureSkipVerify || c.ServerName != "db.example" {
		t.Errorf("verify-identity: %+v %v", c, err)
	}
	if _, _, err := tlsConfig(TLS{Mode: "verify-ca", CAFile: "/nonexistent"}, "h"); err == nil {
		t.Errorf("missing CA file accepted")
	}
	if _, _, err := tlsConfig(TLS{Mode: "bogus"}, "h"); err == nil {
		t.Errorf("bogus mode accepted")
	}
}
