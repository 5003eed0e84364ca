package output

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// hostile holds what a server or a peer could send to retitle the
// terminal (OSC 0, ended by BEL), clear it (CSI 2J), forge a line, or
// confuse the terminal with C1 controls, invalid UTF-8 and bidi overrides.
const hostile = "\x1b]0;pwned\x07\x1b[2J"

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"":                        "",
		"mx.example.com":          "mx.example.com",
		"Müller ☃ 日本":             "Müller ☃ 日本",
		hostile:                   `\x1b]0;pwned\x07\x1b[2J`,
		"a\nb":                    `a\nb`,
		"a\r\nb\tc":               `a\r\nb\tc`,
		`C:\path\n`:               `C:\\path\\n`, // a backslash is escaped: \n above is unambiguous
		"del\x7f nul\x00":         `del\x7f nul\x00`,
		"c1 \u0085 \u009b2J":      `c1 \u0085 \u009b2J`,
		"bad \xff\xfe utf8 \xc3":  `bad \xff\xfe utf8 \xc3`,
		"bidi \u202egnp.exe":      `bidi \u202egnp.exe`,
		"line\u2028sep":           `line\u2028sep`,
		"454 4.7.0 TLS not avail": "454 4.7.0 TLS not avail",
	} {
		if got := Escape(in); got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
	}
}

// What Escape lets through is printable: no byte below 0x20, no DEL, no
// C1, valid UTF-8; and different inputs give different outputs.
func FuzzEscape(f *testing.F) {
	f.Add(hostile)
	f.Add("a\nb\\n")
	f.Add("\xc2\x85\xe2\x80\xae\xff")
	seen := map[string]string{}
	f.Fuzz(func(t *testing.T, s string) {
		e := Escape(s)
		if !isPlain(e) {
			t.Fatalf("Escape(%q) = %q", s, e)
		}
		if isPlain(s) && !strings.Contains(s, `\`) && e != s {
			t.Fatalf("Escape changed plain %q to %q", s, e)
		}
		if prev, ok := seen[e]; ok && prev != s {
			t.Fatalf("Escape(%q) == Escape(%q) == %q", s, prev, e)
		}
		if len(seen) < 1<<16 {
			seen[e] = s
		}
	})
}

func isPlain(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || unsafeRune(r) {
			return false
		}
	}
	return true
}

// A table whose cells hold terminal escapes and newlines renders one line
// per row, escaped, aligned as if the cells were plain.
func TestTableEscapesCells(t *testing.T) {
	var b bytes.Buffer
	err := WriteTable(&b, []string{"JOB", "DATABASES"}, [][]string{
		{"app", hostile},
		{"a\nb", "x\ty"},
		{"ok", "plain"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "JOB   DATABASES\n" +
		`app   \x1b]0;pwned\x07\x1b[2J` + "\n" +
		`a\nb  x\ty` + "\n" +
		"ok    plain\n"
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
	for _, c := range b.String() {
		if c < 0x20 && c != '\n' {
			t.Fatalf("raw control %q in %q", c, b.String())
		}
	}
	if n := strings.Count(b.String(), "\n"); n != 4 {
		t.Errorf("%d lines, want 4", n)
	}
}

// JSON carries the exact bytes: encoding/json escapes them once, and they
// decode back to the same string (no Escape on the way).
func TestJSONKeepsExactBytes(t *testing.T) {
	in := []string{hostile, "a\nb", "c1 \u0085", `back\slash`}
	var b bytes.Buffer
	if err := WriteJSON(&b, in); err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(b.String(), "\x1b\x07") {
		t.Errorf("raw control in JSON: %q", b.String())
	}
	var out []string
	if err := json.Unmarshal(b.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	for i := range in {
		if out[i] != in[i] {
			t.Errorf("round trip: %q became %q", in[i], out[i])
		}
	}
}

// SafeJSON: what encoding/json leaves raw (DEL, C1, bidi) becomes a \u
// escape; the text still decodes to the same string.
func TestSafeJSON(t *testing.T) {
	in := "del\x7f c1\u0085\u009b bidi\u202e " + hostile + ` \ "`
	b, _ := json.Marshal(in)
	s := SafeJSON(string(b))
	if !isPlain(s) {
		t.Errorf("SafeJSON left a control: %q", s)
	}
	var back string
	if err := json.Unmarshal([]byte(s), &back); err != nil || back != in {
		t.Errorf("SafeJSON(%s) = %s decodes to %q, %v", b, s, back, err)
	}
	if SafeJSON(`"plain"`) != `"plain"` {
		t.Error("plain JSON changed")
	}
}

// EscapeLines keeps the line breaks between lines, escapes each line, and
// keeps a line whose only special characters are backslashes as it is (a
// GRANT to copy stays exact); a line with anything else escaped has its
// backslashes escaped too, so its escapes stay unambiguous.
func TestEscapeLines(t *testing.T) {
	in := "f:1: GRANT SELECT ON `ops\\_verify\\_%`.* TO 'u'@'h'\nf:2: peer said \x1b[2J\\n\nplain"
	want := "f:1: GRANT SELECT ON `ops\\_verify\\_%`.* TO 'u'@'h'\nf:2: peer said \\x1b[2J\\\\n\nplain"
	if got := EscapeLines(in); got != want {
		t.Fatalf("EscapeLines(%q) = %q, want %q", in, got, want)
	}
}
