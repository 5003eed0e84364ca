package exitcode

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestOf(t *testing.T) {
	base := errors.New("boom")
	cases := []struct {
		err  error
		want int
	}{
		{nil, 0},
		{base, 3},
		{Check(base), 1},
		{fmt.Errorf("wrapped: %w", Check(base)), 1},
		{UsageError(base), 2},
		{fmt.Errorf("ctx: %w", context.Canceled), 130},
		{UsageError(fmt.Errorf("x: %w", context.Canceled)), 2},
		{WithCode(nil, 1), 0},
	}
	for _, c := range cases {
		if got := Of(c.err); got != c.want {
			t.Errorf("Of(%v) = %d, want %d", c.err, got, c.want)
		}
	}
	if !errors.Is(Check(base), base) {
		t.Error("marking must keep the chain")
	}
}
