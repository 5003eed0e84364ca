// Package fielderr is the one error type of a bad config value: the key
// path of the field and what is wrong with it. Every config section's
// Validate returns it, and the config loader turns the path into the file
// line, variable or flag that set the value.
package fielderr

import "fmt"

// Error names the config field that is wrong.
type Error struct {
	Field string // key path, e.g. backup.jobs[0].threads
	Msg   string
}

func (e *Error) Error() string { return e.Field + ": " + e.Msg }

// FieldPath is the key path of the bad value.
func (e *Error) FieldPath() string { return e.Field }

// New returns an Error for field with a formatted message.
func New(field, format string, args ...any) *Error {
	return &Error{Field: field, Msg: fmt.Sprintf(format, args...)}
}
