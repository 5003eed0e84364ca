package progress

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opsteam/ops/internal/bytesize"
)

// Bar is a terminal progress line. The zero value is not usable; see New.
// A nil *Bar is valid and does nothing, so callers need no checks.
type Bar struct {
	w       io.Writer
	label   string
	total   atomic.Int64 // 0 = unknown
	done    atomic.Int64
	start   time.Time
	stop    chan struct{}
	stopped sync.WaitGroup
	now     func() time.Time
}

// New starts a bar that redraws every interval on w. When enabled is false
// it returns nil (a no-op bar).
func New(w io.Writer, enabled bool, label string, total int64) *Bar {
	if !enabled {
		return nil
	}
	b := &Bar{w: w, label: label, start: time.Now(), stop: make(chan struct{}), now: time.Now}
	b.total.Store(total)
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
				fmt.Fprint(b.w, "\r"+b.Line()+"\033[K")
			}
		}
	}()
	return b
}

// Set records the bytes done so far.
func (b *Bar) Set(n int64) {
	if b != nil {
		b.done.Store(n)
	}
}

// Add adds to the bytes done.
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

// Line renders the bar's text.
func (b *Bar) Line() string {
	if b == nil {
		return ""
	}
	done, total := b.done.Load(), b.total.Load()
	el := b.now().Sub(b.start)
	rate := 0.0
	if el > 0 {
		rate = float64(done) / el.Seconds()
	}
	var sb strings.Builder
	sb.WriteString(b.label)
	sb.WriteString(" ")
	if total > 0 {
		frac := min(float64(done)/float64(total), 1)
		const width = 24
		n := int(frac * width)
		sb.WriteString("[" + strings.Repeat("=", n) + strings.Repeat(" ", width-n) + "] ")
		fmt.Fprintf(&sb, "%3.0f%% ", frac*100)
	}
	fmt.Fprintf(&sb, "%s  %s/s  %s", bytesize.Human(done), bytesize.Human(int64(rate)), el.Truncate(time.Second))
	if total > 0 && rate > 0 && done < total {
		eta := time.Duration(float64(total-done) / rate * float64(time.Second))
		fmt.Fprintf(&sb, "  ETA %s", eta.Truncate(time.Second))
	}
	return sb.String()
}

// Done stops the bar and ends its line.
func (b *Bar) Done() {
	if b == nil {
		return
	}
	close(b.stop)
	b.stopped.Wait()
	fmt.Fprint(b.w, "\r"+b.Line()+"\033[K\n")
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
