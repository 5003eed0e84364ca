package fielderr

import "fmt"

// Error names the config field whose value is wrong.
type Error struct {
	Field string // key path, e.g. backup.jobs[0].threads
	Msg   string
}

// Error is "FIELD: MSG".
func (e *Error) Error() string { return e.Field + ": " + e.Msg }

// FieldPath is the key path of the bad value (lets the config loader say
// which file line, variable or flag set it).
func (e *Error) FieldPath() string { return e.Field }

// New returns the error for field with message msg.
func New(field, msg string) *Error { return &Error{Field: field, Msg: msg} }

// Newf returns the error for field with a formatted message.
func Newf(field, format string, args ...any) *Error {
	return &Error{Field: field, Msg: fmt.Sprintf(format, args...)}
}
