package replay

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opsteam/ops/backup/mysql/conn"
	"github.com/opsteam/ops/internal/secret"
)

// mysqlbinlog's GTID lines are left out (the target gives the replayed
// transactions its own GTIDs); everything else passes unchanged, long
// lines included.
func TestCopyWithoutGTIDs(t *testing.T) {
	long := strings.Repeat("x", 200000)
	in := "DELIMITER /*!*/;\n" +
		"/*M!100001 SET @@session.gtid_domain_id=0*//*!*/;\n" +
		"/*M!100001 SET @@session.server_id=3308*//*!*/;\n" +
		"/*M!100001 SET @@session.gtid_seq_no=5*//*!*/;\n" +
		"INSERT INTO t VALUES ('" + long + "')\n/*!*/;\n" +
		"SELECT '/*M!100001 SET @@session.gtid_seq_no=5*//*!*/;'\n" + // not at the start of a line
		"/*M!100001 SET @@session.gtid_seq_no=5*//*!*/; DROP TABLE t\n" + // more on the line: kept (and refused earlier by the filter)
		"COMMIT/*!*/;"
	var out bytes.Buffer
	if err := copyWithoutGTIDs(&out, strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	want := "DELIMITER /*!*/;\n" + "INSERT INTO t VALUES ('" + long + "')\n/*!*/;\n" +
		"SELECT '/*M!100001 SET @@session.gtid_seq_no=5*//*!*/;'\n" +
		"/*M!100001 SET @@session.gtid_seq_no=5*//*!*/; DROP TABLE t\n" + "COMMIT/*!*/;"
	if out.String() != want {
		t.Errorf("got %d bytes, want %d:\n%.300s", out.Len(), len(want), out.String())
	}
}

// The client's option file: the password is quoted (never in argv), the
// socket or host and port, and the TLS mode.
func TestWriteClientDefaults(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		cfg  conn.Config
		want []string
	}{
		{"tcp verify-ca", conn.Config{Host: "db.example", Port: 3307, User: "ops", Password: secret.New(`p"a\ss`), TLS: conn.TLS{Mode: "verify-ca", CAFile: "/etc/ca.pem"}},
			[]string{`user="ops"`, `password="p\"a\\ss"`, `host="db.example"`, "port=3307", "protocol=tcp", "\nssl\n", `ssl-ca="/etc/ca.pem"`, "ssl-verify-server-cert"}},
		{"socket", conn.Config{Socket: "/run/mysqld/mysqld.sock", User: "root"},
			[]string{`socket="/run/mysqld/mysqld.sock"`, "protocol=socket", "skip-ssl", `password=""`}},
		{"tcp disabled", conn.Config{Host: "127.0.0.1", User: "root", TLS: conn.TLS{Mode: "disabled"}}, []string{"port=3306", "skip-ssl"}},
	} {
		p := filepath.Join(dir, c.name)
		if err := writeClientDefaults(p, c.cfg, nil); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		b, _ := os.ReadFile(p)
		st, _ := os.Stat(p)
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v", c.name, st.Mode())
		}
		for _, w := range c.want {
			if !strings.Contains(string(b), w) {
				t.Errorf("%s: %q missing from\n%s", c.name, w, b)
			}
		}
	}
	if err := writeClientDefaults(filepath.Join(dir, "nl"), conn.Config{Host: "h", User: "u", Password: secret.New("a\nb")}, nil); err == nil {
		t.Error("a password with a line break was written")
	}
}
