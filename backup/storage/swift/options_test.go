package swift

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/opsteam/ops/internal/secret"
)

func TestCleartextAuthWarning(t *testing.T) {
	for _, tc := range []struct {
		url  string
		warn bool
	}{
		{"http://swift.example:8080/auth/v1.0", true},
		{"HTTP://10.0.0.5/v3", true},
		{"http://user:pw@swift.example/auth/v1.0", true},
		{"https://swift.example/auth/v1.0", false},
		{"http://127.0.0.1:8080/auth/v1.0", false},
		{"http://[::1]:8080/v3", false},
		{"http://localhost:8080/auth/v1.0", false},
	} {
		var logs bytes.Buffer
		o := Options{AuthURL: tc.url, User: "u", Key: secret.New("the-key"), Container: "c",
			Logger: slog.New(slog.NewTextHandler(&logs, nil)), Getenv: func(string) string { return "" }}
		if _, err := o.resolve(); err != nil {
			t.Fatalf("%s: %v", tc.url, err)
		}
		got := strings.Contains(logs.String(), "level=WARN") && strings.Contains(logs.String(), "unencrypted")
		if got != tc.warn {
			t.Errorf("%s: warned %v, want %v (log %q)", tc.url, got, tc.warn, logs.String())
		}
		if strings.Contains(logs.String(), "the-key") || strings.Contains(logs.String(), "pw@") {
			t.Errorf("%s: the log shows a secret: %s", tc.url, logs.String())
		}
	}
}
