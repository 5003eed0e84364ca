package progress

import (
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/opsteam/ops/internal/bytesize"
)

// percent is the percentage a bar line shows (-1 when none).
func percent(t *testing.T, line string) int {
	t.Helper()
	m := regexp.MustCompile(`\] +(\d+)% `).FindStringSubmatch(line)
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// A table three times larger than the server estimated: the total grows
// with what was done of it (never below it), then, once it ends, its real
// size replaces its estimate and the table still to come is scaled by the
// same ratio. The bar fed from it never shows more than 99 % before Done,
// never "X of ~Y" with Y below X, and 100 % once done.
func TestEstimateTableLargerThanEstimated(t *testing.T) {
	const mib = 1 << 20
	est := NewEstimate(map[string]Item{"shop.orders": {Bytes: 4 * mib}, "shop.items": {Bytes: 4 * mib}, "shop.empty": {Bytes: 16 << 10, Rows: 0}})
	b := New(io.Discard, true, "backup app", 0)
	check := func(step string) {
		t.Helper()
		done, total := est.Done(), est.Total()
		if total < done {
			t.Fatalf("%s: total %d below done %d", step, total, done)
		}
		b.Set(done)
		b.SetEstimate(total, "SQL")
		line := b.Line()
		if p := percent(t, line); p < 0 || p > 99 {
			t.Fatalf("%s: %q shows %d%% before the end", step, line, p)
		}
		if !strings.Contains(line, " of ~"+bytesize.Human(total)+" SQL") {
			t.Fatalf("%s: %q lacks the total %s", step, line, bytesize.Human(total))
		}
	}
	est.Add("", 300, 0) // header and schema: exact
	check("schema")
	est.Add("shop.empty", 40, 0)
	est.Finish("shop.empty") // a tiny table's estimate says nothing of the others
	check("empty table")
	if got, want := est.Total(), int64(300+40+8*mib); got != want {
		t.Fatalf("after the empty table: total %d, want %d", got, want)
	}
	for i := range 48 { // 12 MiB of orders: three times its estimate
		est.Add("shop.orders", mib/4, 0)
		check("orders part " + strconv.Itoa(i))
	}
	est.Finish("shop.orders")
	check("orders ended")
	if got, want := est.Total(), int64(300+40+12*mib+12*mib); got != want {
		t.Fatalf("after orders: total %d, want %d (items scaled by orders' ratio 3)", got, want)
	}
	for range 48 {
		est.Add("shop.items", mib/4, 0)
		check("items")
	}
	est.Finish("shop.items")
	est.Add("", 100, 0) // footer
	if est.Total() != est.Done() || est.Done() != 300+40+24*mib+100 {
		t.Fatalf("at the end: done %d, total %d", est.Done(), est.Total())
	}
	b.Set(est.Done())
	b.Done()
	if p := percent(t, b.Line()); p != 100 {
		t.Fatalf("after Done: %q, want 100%%", b.Line())
	}
}

// Unknown items (no estimate) and a finish of an unknown item count as
// exact work; an empty estimate is a total of what was done.
func TestEstimateUnknownItems(t *testing.T) {
	est := NewEstimate(nil)
	est.Add("x.y", 500, 0)
	est.Finish("x.y")
	est.Finish("nope")
	if est.Done() != 500 || est.Total() != 500 {
		t.Fatalf("done %d total %d", est.Done(), est.Total())
	}
}

// A table whose byte estimate is stale (16 KiB: statistics not updated
// after a bulk load) but whose row estimate is right: once a part is
// written, its bytes per row times the estimated rows give the table's
// size, and the bar shows a real percentage instead of 99 % from the start.
func TestEstimateProjectsFromRows(t *testing.T) {
	const mib = 1 << 20
	est := NewEstimate(map[string]Item{"app.notes": {Bytes: 16 << 10, Rows: 200000}})
	est.Add("app.notes", 10*mib, 10000) // 1 KiB per row
	if got, want := est.Total(), int64(200*mib); got != want {
		t.Fatalf("total %d, want %d", got, want)
	}
	b := New(io.Discard, true, "backup app", 0)
	b.Set(est.Done())
	b.SetEstimate(est.Total(), "SQL")
	if p := percent(t, b.Line()); p != 5 {
		t.Fatalf("%q: want 5%%", b.Line())
	}
	est.Add("app.notes", 200*mib, 190000) // more than the projection: the total follows
	if est.Total() != est.Done() {
		t.Fatalf("total %d below done %d", est.Total(), est.Done())
	}
}
