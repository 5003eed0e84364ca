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
	clock := func() time.Time { return start.Add(2 * time.Second) }
	b.now.Store(&clock)
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

// A log line written while a bar is shown clears the bar first and draws
// it again after: the log line never shares a line with the bar.
func TestTerminalLogAboveBar(t *testing.T) {
	var out bytes.Buffer
	term := NewTerminal(&out)
	b := New(term, true, "backup app", 0)
	b.SetEstimate(1000, "SQL")
	b.Set(500)
	b.SetStored(100)
	b.SetDetail("shop.orders")
	start := b.start
	clock := func() time.Time { return start.Add(5 * time.Second) }
	b.now.Store(&clock)
	term.draw(b.Line())
	out.Reset()
	if _, err := io.WriteString(term, "time=… level=INFO msg=x\n"); err != nil {
		t.Fatal(err)
	}
	want := "\r\033[Ktime=… level=INFO msg=x\n" + b.Line()
	if out.String() != want {
		t.Fatalf("log write = %q, want %q", out.String(), want)
	}
	for _, w := range []string{" 50% ", "500 B of ~1000 B SQL (100 B stored)", "100 B/s", "ETA 5s", "shop.orders"} {
		if !strings.Contains(b.Line(), w) {
			t.Errorf("line %q lacks %q", b.Line(), w)
		}
	}
	b.Set(2000) // past the estimate: 99% at most until Done, the total raised to what was done
	if l := b.Line(); !strings.Contains(l, " 99% ") || !strings.Contains(l, "2.0 KiB of ~2.0 KiB SQL") {
		t.Errorf("estimate exceeded: %q", l)
	}
	out.Reset()
	b.Done()
	if got := out.String(); got != "\r\033[Kbackup app: 2.0 KiB SQL → 100 B stored in 5s (400 B/s)\n" {
		t.Errorf("Done = %q", got)
	}
	out.Reset()
	io.WriteString(term, "after\n")
	b.Done() // a second Done (a caller's every return path) prints nothing
	if out.String() != "after\n" {
		t.Errorf("after Done, the bar is not drawn again: %q", out.String())
	}
	if l := b.Line(); !strings.Contains(l, " 100% 2.0 KiB of 2.0 KiB SQL") {
		t.Errorf("after Done: %q", l)
	}
}

// A counting bar (the replay's transactions) shows plain numbers with its
// unit, not bytes.
func TestCountLine(t *testing.T) {
	var out bytes.Buffer
	b := New(&out, true, "replay", 20000)
	b.SetCount("transactions")
	start := b.start
	clock := func() time.Time { return start.Add(3 * time.Second) }
	b.now.Store(&clock)
	b.Set(12000)
	b.SetDetail("binlog.000005:1234")
	line := b.Line()
	for _, want := range []string{"replay [", " 60% ", "12000 of 20000 transactions", "4000/s", "ETA 2s", "binlog.000005:1234"} {
		if !strings.Contains(line, want) {
			t.Errorf("line %q lacks %q", line, want)
		}
	}
	if strings.Contains(line, "KiB") {
		t.Errorf("line %q counts bytes", line)
	}
	b.Done()
	if !strings.Contains(out.String(), "replay: 12000 transactions in 3s (4000/s)") {
		t.Errorf("summary: %q", out.String())
	}
}
