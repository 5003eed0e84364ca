package secret

import (
	"encoding/json"
	"fmt"
	"log/slog"
)

// Redacted is what every rendering of a non-empty Secret prints.
const Redacted = "***"

// Secret is a string that refuses to be printed.
type Secret struct {
	v string
}

// New wraps a value.
func New(v string) Secret { return Secret{v: v} }

// Reveal returns the value. Call it only where the value is handed to a
// library that needs it (a DSN, an auth header), never for output.
func (s Secret) Reveal() string { return s.v }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.v == "" }

func (s Secret) redacted() string {
	if s.v == "" {
		return ""
	}
	return Redacted
}

// String implements fmt.Stringer.
func (s Secret) String() string { return s.redacted() }

// GoString implements fmt.GoStringer (%#v).
func (s Secret) GoString() string { return fmt.Sprintf("secret.Secret(%q)", s.redacted()) }

// Format makes every verb (%s %v %q %x %d …) print the redacted form.
func (s Secret) Format(f fmt.State, verb rune) {
	switch verb {
	case 'q':
		fmt.Fprintf(f, "%q", s.redacted())
	default:
		_, _ = f.Write([]byte(s.redacted()))
	}
}

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.redacted()) }

// MarshalJSON implements json.Marshaler.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.redacted()) }

// MarshalText implements encoding.TextMarshaler (used by YAML encoders and
// anything else that renders text).
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.redacted()), nil }

// MarshalYAML implements yaml.Marshaler.
func (s Secret) MarshalYAML() (any, error) { return s.redacted(), nil }

// UnmarshalText lets decoders fill a Secret from config text.
func (s *Secret) UnmarshalText(b []byte) error { s.v = string(b); return nil }

// UnmarshalJSON reads a JSON string.
func (s *Secret) UnmarshalJSON(b []byte) error {
	var v string
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	s.v = v
	return nil
}
