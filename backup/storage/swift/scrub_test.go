package swift

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/opsteam/ops/internal/secret"
)

// An error never carries the key, whatever a server echoes (keys of three
// characters and more: a shorter one would redact unrelated text), and the
// scrubbed error still matches what it wraps.
func TestScrubRemovesTheKey(t *testing.T) {
	cause := errors.New("server said 401")
	for _, c := range []struct {
		key    string
		scrubs bool
	}{{"k3y", true}, {"s3cr3t-key-with-length", true}, {"ab", false}, {"", false}} {
		s := &Store{opts: Options{Key: secret.New(c.key)}}
		err := s.scrub(fmt.Errorf("auth with key %q failed: %w", c.key, cause))
		redacted := strings.Contains(err.Error(), secret.Redacted)
		if c.key != "" && strings.Contains(err.Error(), c.key) == c.scrubs || redacted != c.scrubs {
			t.Errorf("key %q: %v (redacted: %v, want %v)", c.key, err, redacted, c.scrubs)
		}
		if !errors.Is(err, cause) {
			t.Errorf("key %q: the scrubbed error lost its cause", c.key)
		}
	}
	if (&Store{opts: Options{Key: secret.New("k3y")}}).scrub(nil) != nil {
		t.Error("scrub(nil) is not nil")
	}
}
