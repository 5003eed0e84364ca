package tlscheck

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run go test -update after checking):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestLintGolden(t *testing.T) {
	p, err := LoadPolicy("testdata/lint-access.txt")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteFindings(&buf, Lint(p)); err != nil {
		t.Fatal(err)
	}
	golden(t, "lint-access.golden", buf.Bytes())
	// Every line of the file but the comment, the good entry and the CITag
	// target entry must be flagged at least once.
	flagged := map[int]bool{}
	for _, f := range Lint(p) {
		flagged[f.Line] = true
	}
	for _, line := range []int{3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15, 16, 17, 18, 20, 21, 22, 24, 25, 26, 27} {
		if !flagged[line] {
			t.Errorf("line %d not flagged", line)
		}
	}
	if flagged[2] || flagged[19] || flagged[23] {
		t.Errorf("good entries flagged: %v", flagged)
	}
}

// --allow-extensions: ops' own extensions (CA, ALTNAMES:, DANE) are
// intended; typos and sendmail's misreadings are still reported.
func TestLintAllowExtensions(t *testing.T) {
	p, err := LoadPolicy("testdata/lint-access.txt")
	if err != nil {
		t.Fatal(err)
	}
	flagged := map[int][]string{}
	for _, f := range LintWith(p, LintOptions{AllowExtensions: true}) {
		flagged[f.Line] = append(flagged[f.Line], f.Msg)
	}
	for _, line := range []int{18, 24} {
		if len(flagged[line]) > 0 {
			t.Errorf("line %d (an ops extension) flagged: %q", line, flagged[line])
		}
	}
	// Line 7's CA is accepted; only its CI after it is still checked.
	for _, m := range flagged[7] {
		if strings.Contains(m, "ops extension") {
			t.Errorf("line 7: %q", m)
		}
	}
	for _, line := range []int{3, 4, 6, 21, 22, 25, 26, 27} { // typos, unknown extensions, SAN type prefixes
		if len(flagged[line]) == 0 {
			t.Errorf("line %d (a mistake) not flagged with --allow-extensions", line)
		}
	}
	if !strings.Contains(strings.Join(flagged[22], " "), `type prefix "DNS:"`) || !strings.Contains(strings.Join(flagged[25], " "), `type prefix "email:"`) {
		t.Errorf("SAN prefix findings: %q %q", flagged[22], flagged[25])
	}
}

func TestLintCleanPolicy(t *testing.T) {
	p := mustPolicy(t, `TLS_Srv:secure.example.com ENCR:112
TLS_Clt:laptop.example.com PERM+VERIFY:112
TLS_Rcpt:darth@endmail.org ENCR:112+CN:smtp.endmail.org
TLS_Srv:safe.example.net VERIFY+CN++CITag:MyCA
MyCA:/C=US/ST=CA/O=safe/CN=example.net OK
Try_TLS:broken.example.net NO
CertIssuer:/C=US/ST=California/O=endmail.org/OU=private/CN=Darth+20Mail+20+28Cert+29/emailAddress=darth+2Bcert@endmail.org RELAY
Connect:10.1 RELAY
`)
	if fs := Lint(p); len(fs) != 0 {
		t.Errorf("clean policy flagged: %v", fs)
	}
}

func TestLintPostfix(t *testing.T) {
	p, err := LoadPolicy("testdata/postfix-policy.txt")
	if err != nil {
		t.Fatal(err)
	}
	if p.Format != FormatPostfix {
		t.Fatalf("format %v", p.Format)
	}
	var msgs []string
	for _, f := range Lint(p) {
		msgs = append(msgs, f.String())
	}
	got := strings.Join(msgs, "\n")
	for _, want := range []string{
		"testdata/postfix-policy.txt:11: *.wild.example: '*.' keys are not wildcards in Postfix tables: write .wild.example for subdomains",
		"testdata/postfix-policy.txt:11: *.wild.example: match=*.wild.example: '*' is literal",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
	if len(msgs) != 2 {
		t.Errorf("%d findings: %s", len(msgs), got)
	}
}
