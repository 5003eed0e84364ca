package exitcode

import (
	"errors"
	"fmt"
	"testing"
)

// The mapping of errors to statuses (cancellation, unmarked errors) is
// cmd/ops' exit table and is tested there (TestExitTable).
func TestMarked(t *testing.T) {
	base := errors.New("boom")
	cases := []struct {
		err    error
		want   int
		marked bool
	}{
		{nil, 0, false},
		{base, 0, false},
		{Check(base), 1, true},
		{fmt.Errorf("wrapped: %w", Check(base)), 1, true},
		{UsageError(base), 2, true},
		{UsageError(Check(base)), 2, true}, // the outermost mark wins
		{WithCode(base, Runtime), 3, true},
		// A child process's status (*exec.ExitError) is not a mark.
		{fmt.Errorf("applying the binary log: mariadb: %w", childExit{1}), 0, false},
	}
	for _, c := range cases {
		if got, ok := Marked(c.err); got != c.want || ok != c.marked {
			t.Errorf("Marked(%v) = %d, %v; want %d, %v", c.err, got, ok, c.want, c.marked)
		}
	}
	if WithCode(nil, 1) != nil {
		t.Error("marking nil must stay nil")
	}
	if !errors.Is(Check(base), base) {
		t.Error("marking must keep the chain")
	}
}

// childExit has an ExitCode method, as *exec.ExitError does.
type childExit struct{ code int }

func (c childExit) Error() string { return fmt.Sprintf("exit status %d", c.code) }
func (c childExit) ExitCode() int { return c.code }
