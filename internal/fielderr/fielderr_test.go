package fielderr

import (
	"errors"
	"fmt"
	"testing"
)

func TestError(t *testing.T) {
	e := New("backup.jobs[0].threads", "0 is out of range: expected 1 to 64")
	if got, want := e.Error(), "backup.jobs[0].threads: 0 is out of range: expected 1 to 64"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if e.FieldPath() != "backup.jobs[0].threads" {
		t.Errorf("FieldPath() = %q", e.FieldPath())
	}
	f := Newf("tlscheck.concurrency", "%d is out of range: expected 1 to %d", 0, 1024)
	if *f != (Error{Field: "tlscheck.concurrency", Msg: "0 is out of range: expected 1 to 1024"}) {
		t.Errorf("Newf = %+v", *f)
	}
	var got *Error
	if !errors.As(fmt.Errorf("config: %w", f), &got) || got != f {
		t.Errorf("errors.As through a wrap: %v", got)
	}
	var fp interface{ FieldPath() string }
	if !errors.As(errors.Join(errors.New("x"), f), &fp) || fp.FieldPath() != "tlscheck.concurrency" {
		t.Errorf("FieldPath through errors.Join: %v", fp)
	}
}
