package logging

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
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
