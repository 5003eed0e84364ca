package storage

import (
	"errors"
	"fmt"
	"strings"
)

// ErrMissing is matched (errors.Is) by a *MissingError.
var ErrMissing = errors.New("storage location does not exist")

// MissingError says that a read-only open found no container or directory
// where the target points: read-only commands (list, verify, restore, prune)
// never create one, a mistyped name must not turn into an empty listing.
type MissingError struct {
	Kind        string   // "swift container", "directory"
	Name        string   // the container name or directory path
	Suggestions []string // existing names close to Name
}

func (e *MissingError) Error() string {
	msg := fmt.Sprintf("%s %q does not exist", e.Kind, e.Name)
	if len(e.Suggestions) > 0 {
		q := make([]string, len(e.Suggestions))
		for i, s := range e.Suggestions {
			q[i] = fmt.Sprintf("%q", s)
		}
		msg += " (did you mean " + strings.Join(q, " or ") + "?)"
	}
	return msg + "; only a backup run creates it"
}

// Is matches ErrMissing.
func (e *MissingError) Is(target error) bool { return target == ErrMissing }
