package logging

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestRedactsSecretLookingAttrs(t *testing.T) {
	var buf bytes.Buffer
	log := New(&buf, 0, "json")
	log.Info("connect", "password", "hunter2", "swift_key", "k3y", "password_file", "/etc/ops/p", "token", "t0k", "user", "bob")
	line := buf.String()
	for _, s := range []string{"hunter2", "k3y", "t0k"} {
		if strings.Contains(line, s) {
			t.Fatalf("leaked %q: %s", s, line)
		}
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if m["password_file"] != "/etc/ops/p" || m["user"] != "bob" || m["password"] != "***" {
		t.Errorf("%v", m)
	}
}

func TestParseLevelAndFormat(t *testing.T) {
	for _, ok := range []string{"debug", "info", "warn", "warning", "error", "INFO"} {
		if _, err := ParseLevel(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for in, want := range map[string]slog.Level{
		"debug": slog.LevelDebug, "info": slog.LevelInfo, "": slog.LevelInfo, "INFO": slog.LevelInfo, " Info ": slog.LevelInfo,
		"warn": slog.LevelWarn, "warning": slog.LevelWarn, "WARN": slog.LevelWarn, "error": slog.LevelError,
	} {
		if got, err := ParseLevel(in); err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseLevel("loud"); err == nil {
		t.Error("loud accepted")
	}
	if CheckFormat("xml") == nil || CheckFormat("json") != nil {
		t.Error("CheckFormat")
	}
}

// A text log line stays one line whatever a server put into a value, a
// key or the message: slog's text handler quotes (strconv.Quote) every
// string with a control character, a non-printable rune or invalid UTF-8.
// The JSON handler keeps the exact bytes (JSON-escaped once).
func TestLogEscapesServerStrings(t *testing.T) {
	hostile := "\x1b]0;pwned\x07\x1b[2J"
	vals := []string{hostile, "a\nb", "c1 \u0085 \u009b", "bad \xff", "bidi \u202e", "line\u2028sep"}
	var b bytes.Buffer
	log := New(&b, 0, "text")
	for _, v := range vals {
		log.Info("reply "+v, "reply", v, "key\n"+v, 1, "err", errors.New(v))
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != len(vals) {
		t.Fatalf("%d values gave %d lines:\n%s", len(vals), len(lines), b.String())
	}
	for _, l := range lines {
		for _, r := range l {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == 0x202e || r == 0x2028 || r == utf8.RuneError {
				t.Errorf("raw %U in %q", r, l)
			}
		}
	}
	if !strings.Contains(lines[0], `reply="\x1b]0;pwned\a\x1b[2J"`) {
		t.Errorf("line %q", lines[0])
	}

	b.Reset()
	log = New(&b, 0, "json")
	for _, v := range vals {
		b.Reset()
		log.Info("x", "reply", v)
		var m map[string]any
		if err := json.Unmarshal(b.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		if got := m["reply"]; got != strings.ToValidUTF8(v, "\uFFFD") {
			t.Errorf("JSON log: %q became %q", v, got)
		}
	}
}
