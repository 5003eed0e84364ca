package progress

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opsteam/ops/internal/bytesize"
)

// Terminal is stderr on a terminal, shared by the logger and the bars: a
// line written (a log line) first clears the bar, then the bar is drawn
// again below it, so no log line ever shares a line with the bar. Safe for
// concurrent use.
type Terminal struct {
	mu   sync.Mutex
	w    io.Writer
	line string // the bar currently shown; "" = none
}

// NewTerminal wraps a terminal's writer.
func NewTerminal(w io.Writer) *Terminal { return &Terminal{w: w} }

// Write writes p (log output) above the bar.
func (t *Terminal) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.line != "" {
		_, _ = io.WriteString(t.w, "\r\033[K")
	}
	n, err := t.w.Write(p)
	if t.line != "" && len(p) > 0 && p[len(p)-1] == '\n' {
		_, _ = io.WriteString(t.w, t.line)
	}
	return n, err
}

func (t *Terminal) draw(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.line = line
	_, _ = io.WriteString(t.w, "\r"+line+"\033[K")
}

// finish replaces the bar by a last line.
func (t *Terminal) finish(final string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.line = ""
	_, _ = io.WriteString(t.w, "\r\033[K"+final+"\n")
}

// Bar is a terminal progress line. The zero value is not usable; see New.
// A nil *Bar is valid and does nothing, so callers need no checks.
type Bar struct {
	term    *Terminal
	label   string
	unit    atomic.Value // string: what done and total count ("SQL", "")
	total   atomic.Int64 // 0 = unknown; an estimate when estimated is set
	done    atomic.Int64
	stored  atomic.Int64 // a second count shown beside done (compressed bytes stored); 0 = none
	detail  atomic.Value // string: what is being worked on (the current table)
	estim   atomic.Bool
	count   atomic.Bool // done and total count things (SetCount), not bytes
	ended   atomic.Bool // Done was called: the amount done is the total
	start   time.Time
	stop    chan struct{}
	stopped sync.WaitGroup
	once    sync.Once
	now     atomic.Pointer[func() time.Time] // the clock (tests set theirs while the ticker runs)
}

// New starts a bar that redraws every 200ms on w. When enabled is false it
// returns nil (a no-op bar). When w is a *Terminal, log lines written to
// it go above the bar; any other writer gets the bar alone.
func New(w io.Writer, enabled bool, label string, total int64) *Bar {
	if !enabled {
		return nil
	}
	term, ok := w.(*Terminal)
	if !ok {
		term = NewTerminal(w)
	}
	b := &Bar{term: term, label: label, start: time.Now(), stop: make(chan struct{})}
	clock := time.Now
	b.now.Store(&clock)
	b.total.Store(total)
	b.detail.Store("")
	b.unit.Store("")
	b.stopped.Add(1)
	go func() {
		defer b.stopped.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-b.stop:
				return
			case <-t.C:
				b.term.draw(b.Line())
			}
		}
	}()
	return b
}

// Set records the amount done so far.
func (b *Bar) Set(n int64) {
	if b != nil {
		b.done.Store(n)
	}
}

// Add adds to the amount done.
func (b *Bar) Add(n int64) {
	if b != nil {
		b.done.Add(n)
	}
}

// SetTotal changes the expected total (0 = unknown).
func (b *Bar) SetTotal(n int64) {
	if b != nil {
		b.total.Store(n)
	}
}

// SetEstimate sets an estimated total (e.g. the server's table sizes): the
// bar shows "~" and never more than 99% before Done. An amount done past
// the estimate raises the total shown to it (see Estimate for one that is
// corrected as the work goes).
func (b *Bar) SetEstimate(n int64, unit string) {
	if b != nil {
		b.total.Store(n)
		b.estim.Store(true)
		b.unit.Store(unit)
	}
}

// SetCount makes the bar count things (unit: "transactions") rather than
// bytes.
func (b *Bar) SetCount(unit string) {
	if b != nil {
		b.count.Store(true)
		b.unit.Store(unit)
	}
}

// amount renders an amount of what the bar counts.
func (b *Bar) amount(n int64) string {
	if b.count.Load() {
		return strconv.FormatInt(n, 10)
	}
	return bytesize.Human(n)
}

// SetStored records a second amount shown beside the first (the bytes
// stored after compression, while the first counts SQL).
func (b *Bar) SetStored(n int64) {
	if b != nil {
		b.stored.Store(n)
	}
}

// SetDetail says what is being worked on (e.g. "app.orders").
func (b *Bar) SetDetail(s string) {
	if b != nil {
		b.detail.Store(s)
	}
}

// Line renders the bar's text: label, bar and percentage (when a total is
// known), amount done, throughput, elapsed time, ETA, the current detail.
func (b *Bar) Line() string {
	if b == nil {
		return ""
	}
	done, total := b.done.Load(), b.total.Load()
	estim := b.estim.Load() && !b.ended.Load()
	if total > 0 && (done > total || b.ended.Load()) {
		total = done // never "1.0 GiB of ~350 MiB", nor 101 %
	}
	el := (*b.now.Load())().Sub(b.start)
	rate := 0.0
	if el > 0 {
		rate = float64(done) / el.Seconds()
	}
	var sb strings.Builder
	sb.WriteString(b.label + " ")
	if total > 0 {
		frac := min(float64(done)/float64(total), 1)
		if estim {
			frac = min(frac, 0.99)
		}
		const width = 24
		n := int(frac * width)
		sb.WriteString("[" + strings.Repeat("=", n) + strings.Repeat(" ", width-n) + "] ")
		fmt.Fprintf(&sb, "%3.0f%% ", frac*100)
	}
	sb.WriteString(b.amount(done))
	if total > 0 {
		approx := ""
		if estim {
			approx = "~"
		}
		fmt.Fprintf(&sb, " of %s%s", approx, b.amount(total))
	}
	if u, _ := b.unit.Load().(string); u != "" {
		sb.WriteString(" " + u)
	}
	if s := b.stored.Load(); s > 0 {
		fmt.Fprintf(&sb, " (%s stored)", bytesize.Human(s))
	}
	fmt.Fprintf(&sb, "  %s/s  %s", b.amount(int64(rate)), el.Truncate(time.Second))
	if total > 0 && rate > 0 && done < total && el >= 2*time.Second { // no ETA from the first instants
		eta := time.Duration(float64(total-done) / rate * float64(time.Second))
		fmt.Fprintf(&sb, "  ETA %s", eta.Truncate(time.Second))
	}
	if d, _ := b.detail.Load().(string); d != "" {
		sb.WriteString("  " + d)
	}
	return sb.String()
}

// Summary is the bar's last line: what was done, in how long, how fast.
func (b *Bar) Summary() string {
	if b == nil {
		return ""
	}
	done, el := b.done.Load(), (*b.now.Load())().Sub(b.start)
	rate := 0.0
	if el > 0 {
		rate = float64(done) / el.Seconds()
	}
	s := b.label + ": " + b.amount(done)
	if u, _ := b.unit.Load().(string); u != "" {
		s += " " + u
	}
	if st := b.stored.Load(); st > 0 {
		s += " → " + bytesize.Human(st) + " stored"
	}
	return s + fmt.Sprintf(" in %s (%s/s)", el.Round(100*time.Millisecond), b.amount(int64(rate)))
}

// Done stops the bar and replaces it by the summary line; the bar is not
// drawn again (no later log line redraws it). Calls after the first do
// nothing, so a caller may end the bar early (before its own summary log
// line) and again on every return path.
func (b *Bar) Done() {
	if b == nil {
		return
	}
	b.once.Do(func() {
		close(b.stop)
		b.stopped.Wait()
		b.ended.Store(true)
		b.term.finish(b.Summary())
	})
}

// Reader counts bytes read through it into the bar.
func (b *Bar) Reader(r io.Reader) io.Reader {
	if b == nil {
		return r
	}
	return &countingReader{r: r, b: b}
}

type countingReader struct {
	r io.Reader
	b *Bar
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.b.Add(int64(n))
	return n, err
}
