package logging

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/opsteam/ops/internal/secret"
)

// ParseLevel accepts debug, info, warn (or warning) and error.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, nil
	case "", "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("invalid log level %q: expected debug, info, warn or error", s)
}

// CheckFormat accepts text and json.
func CheckFormat(s string) error {
	switch s {
	case "", "text", "json":
		return nil
	}
	return fmt.Errorf("invalid log format %q: expected text or json", s)
}

// sensitive reports whether an attribute key names a secret value.
func sensitive(key string) bool {
	k := strings.ToLower(key)
	if strings.HasSuffix(k, "_file") || strings.HasSuffix(k, "file") {
		return false // a path to a secret is not the secret
	}
	for _, w := range []string{"password", "passwd", "secret", "token", "apikey", "api_key"} {
		if strings.Contains(k, w) {
			return true
		}
	}
	return k == "key" || strings.HasSuffix(k, "_key") || strings.HasSuffix(k, ".key")
}

// New returns a logger writing to w in the given format ("text" or "json").
// Attributes whose key names a secret are printed as "***" whatever their
// type, in case a string slipped past the secret.Secret type.
func New(w io.Writer, level slog.Level, format string) *slog.Logger {
	opts := &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if sensitive(a.Key) && a.Value.Kind() == slog.KindString && a.Value.String() != "" {
				a.Value = slog.StringValue(secret.Redacted)
			}
			return a
		},
	}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
