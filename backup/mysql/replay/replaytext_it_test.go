package replay

import (
	"bytes"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/opsteam/ops/backup/mysql/sqltext"
	"github.com/opsteam/ops/internal/testenv"
)

// clientTexts are statements as a query event may hold them, chosen to
// probe the client's reader: the delimiter in and out of literals,
// backslashes under each mode, multibyte characters whose trail byte is a
// backslash or a quote, comments of each kind, client commands.
var clientTexts = []string{
	"INSERT INTO t VALUES ('a/*!*/;b')",
	`INSERT INTO t VALUES ('C:\'), ('/*!*/;')`,
	`INSERT INTO t VALUES ("x\"), ('/*!*/;')`,
	`INSERT INTO t VALUES ('it\'s'), ('/*!*/;')`,
	"INSERT INTO t VALUES ('\xbf\\'), ('/*!*/;')",
	"INSERT INTO t VALUES ('\x81\\'), ('/*!*/;')",
	"INSERT INTO t VALUES ('\xe5\\'), ('/*!*/;')",
	"INSERT INTO t VALUES ('\xbf'), ('/*!*/;')",
	"INSERT INTO t VALUES ('\xa4`'), (1) /*!*/;",
	"INSERT INTO `a\\` VALUES (1), ('/*!*/;')",
	"INSERT INTO \"a\\\" VALUES (1), ('/*!*/;')",
	"INSERT INTO t VALUES ('x\n/*!*/;\nDELIMITER ;;\n')",
	"INSERT INTO t VALUES ('\n/*M!100001 SET @@session.gtid_seq_no=9*//*!*/;\n')",
	"INSERT INTO t VALUES (1) /* /*!*/; */",
	"INSERT INTO t VALUES (1) /* ' */, ('/*!*/;')",
	"INSERT INTO t VALUES (1) # c /*!*/;\n, (2)",
	"INSERT INTO t VALUES (1) -- c '\n, (2)",
	"INSERT INTO t VALUES (1) --x '\n, (2)",
	"--x\nINSERT INTO t VALUES (1)",
	"INSERT INTO t VALUES (1) /*!99999 /*!*/; */",
	"INSERT INTO t VALUES (1) /*M!99999 ' */, ('/*!*/;')",
	"INSERT INTO t VALUES ('it''s /*!*/;')",
	"INSERT INTO t VALUES (x'41'), ('\\\\'), ('/*!*/;')",
	"INSERT INTO t VALUES (\\N), ('/*!*/;')",
	"  \n\nINSERT INTO t VALUES (2)   ",
	"INSERT INTO t VALUES ('a') -- caf\xc3\xa9",
	"INSERT INTO t VALUES ('\xa0'),\xa0(1)\xa0",
	"/* c */\nDELIMITER ;\nDO 1",
	"INSERT INTO t VALUES (1)\nDELIMITER ;\nDO 1",
	"INSERT INTO t VALUES (1) \\C gbk",
	"INSERT INTO t VALUES ('a\r\n/*!*/;\r\n'), (1)\r",
	"INSERT INTO t VALUES ('a\\\nb'), ('/*!*/;')",
}

var clientModes = []struct {
	name string
	mode uint64
}{{"default", 0}, {"NO_BACKSLASH_ESCAPES", sqlModeNoBackslash}, {"ANSI_QUOTES", sqlModeANSIQuotes}, {"both", sqlModeNoBackslash | sqlModeANSIQuotes}}

var clientCharsets = []string{"utf8mb4", "gbk", "big5", "sjis", "cp932", "latin1"}

var clientEcho = regexp.MustCompile(`(?s)--------------\n(.*?)\n--------------\n\n`)

// The client model against the real client: for every mode, character
// set and text, the statements `mariadb --binary-mode --force -v` sends
// (its echo of each, one process per case) are the ones clientReader says
// it sends. Cases the model calls a problem (a backslash before the end
// of a line, a client command other than \C) are refused by the replay
// and not compared.
func TestClientReaderMatchesTheClientIT(t *testing.T) {
	testenv.RequireIT(t)
	client := firstInPath("mariadb", "mysql")
	if client == "" {
		t.Fatal("the mariadb client is not in PATH")
	}
	host, port, _ := strings.Cut(testenv.Getenv("OPS_IT_MYSQL_ADDR", "127.0.0.1:3306"), ":")
	compared, skipped := 0, 0
	for _, m := range clientModes {
		for _, cs := range clientCharsets {
			for i, q := range clientTexts {
				input := fmt.Sprintf("SET @@session.sql_mode=%d;\nDELIMITER /*!*/;\n/*!\\C %s *//*!*/;\n%s\n/*!*/;\nDO 'ops-end'/*!*/;\n", m.mode, cs, q)
				r := &clientReader{delim: ";", keep: true, lex: sqltext.LexState{Charset: sqltext.Charsets["utf8mb4"]}}
				for _, line := range strings.Split(strings.TrimSuffix(input, "\n"), "\n") {
					r.line([]byte(line))
				}
				if !r.atStart() || len(r.buf) > 0 {
					r.send()
				}
				if len(r.problems) > 0 {
					skipped++
					continue
				}
				cmd := exec.Command(client, "--no-defaults", "--protocol=tcp", "-h", host, "-P", port, "-uroot",
					"--default-character-set=utf8mb4", "--binary-mode", "--force", "--batch", "-v", "-N")
				cmd.Stdin = strings.NewReader(input)
				var out, stderr bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &stderr
				_ = cmd.Run() // statements fail (no database): --force goes on
				var got []string
				for _, e := range clientEcho.FindAllStringSubmatch(out.String(), -1) {
					got = append(got, e[1])
				}
				if strings.Join(got, "\x00") != strings.Join(r.sent, "\x00") {
					t.Errorf("%s, %s, text %d %q:\n client sent %q\n model says  %q\n(%s)", m.name, cs, i, q, got, r.sent, strings.TrimSpace(stderr.String()))
				}
				compared++
			}
		}
	}
	t.Logf("%d cases compared, %d refused by the model and not compared", compared, skipped)
	if compared < len(clientModes)*len(clientCharsets)*len(clientTexts)/2 {
		t.Errorf("only %d cases compared", compared)
	}
}
