package secret

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestSecretNeverPrints(t *testing.T) {
	s := New("hunter2")
	holder := struct {
		Key Secret `json:"key" yaml:"key"`
	}{s}
	var outs []string
	for _, f := range []string{"%v", "%s", "%+v", "%#v", "%q", "%x", "%d", "%10s"} {
		outs = append(outs, fmt.Sprintf(f, s), fmt.Sprintf(f, holder), fmt.Sprintf(f, &holder))
	}
	j, _ := json.Marshal(holder)
	y, _ := yaml.Marshal(holder)
	var logbuf bytes.Buffer
	slog.New(slog.NewJSONHandler(&logbuf, nil)).Info("x", "key", s, "holder", holder)
	slog.New(slog.NewTextHandler(&logbuf, nil)).Info("x", "key", s)
	outs = append(outs, string(j), string(y), logbuf.String(), s.String())
	for _, o := range outs {
		if strings.Contains(o, "hunter2") {
			t.Fatalf("secret leaked: %q", o)
		}
	}
	if !strings.Contains(string(j), `"key":"***"`) || !strings.Contains(string(y), "key: '***'") {
		t.Errorf("json=%s yaml=%s", j, y)
	}
	if s.Reveal() != "hunter2" {
		t.Fatal("Reveal")
	}
	if New("").String() != "" || !New("").IsZero() {
		t.Error("empty secret should print empty")
	}
	var back Secret
	if err := back.UnmarshalText([]byte("v")); err != nil || back.Reveal() != "v" {
		t.Error("UnmarshalText")
	}
}
