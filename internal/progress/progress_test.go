package progress

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"
)

func TestNilBarIsNoop(t *testing.T) {
	var b *Bar = New(io.Discard, false, "x", 0)
	b.Set(5)
	b.Add(5)
	b.Done()
	if r := b.Reader(strings.NewReader("abc")); r == nil {
		t.Fatal("nil reader")
	}
}

func TestLine(t *testing.T) {
	var out bytes.Buffer
	b := New(&out, true, "backup app", 4<<20)
	start := b.start
	b.now = func() time.Time { return start.Add(2 * time.Second) }
	io.Copy(io.Discard, b.Reader(strings.NewReader(strings.Repeat("x", 1<<20))))
	line := b.Line()
	for _, want := range []string{"backup app [======", " 25% ", "1.0 MiB", "512.0 KiB/s", "2s", "ETA 6s"} {
		if !strings.Contains(line, want) {
			t.Errorf("line %q lacks %q", line, want)
		}
	}
	b.Done()
	if !strings.HasSuffix(out.String(), "\n") {
		t.Errorf("Done did not end the line: %q", out.String())
	}
}
