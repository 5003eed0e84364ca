package inventory

import (
	"fmt"
	"html/template"
	"io"
	"slices"
	"strings"
	"time"
)

// HistoryView is what the HTML page shows of the kept history: the
// previous snapshot (for "changes since the previous snapshot") and the
// counts of every kept one (for the trend chart).
type HistoryView struct {
	Previous *Report
	Points   []TrendPoint // oldest first
}

// TrendPoint is one run in the trend chart.
type TrendPoint struct {
	At                   time.Time
	Hosts, VMsOn, VMsOff int
	Findings             int // errors and warnings
}

func trendPoint(r *Report) TrendPoint {
	s := r.Summarize()
	return TrendPoint{At: r.CollectedAt, Hosts: s.Hosts, VMsOn: s.VMsOn, VMsOff: s.VMsOff, Findings: s.Errors + s.Warnings}
}

// NewHistoryView builds the view from History.List (newest first, read
// before the current run is saved): unreadable snapshots are left out.
func NewHistoryView(snaps []Snapshot) *HistoryView {
	hv := &HistoryView{}
	for _, s := range snaps {
		if s.Error != "" || s.report == nil {
			continue
		}
		if hv.Previous == nil {
			hv.Previous = s.report
		}
		hv.Points = append(hv.Points, trendPoint(s.report))
	}
	slices.Reverse(hv.Points)
	return hv
}

// htmlHistory is the template's part of the history.
type htmlHistory struct {
	PrevAt  time.Time
	Changes *DiffResult // nil without a previous snapshot
	Chart   template.HTML
	Runs    int
}

// RenderHTMLHistory is RenderHTML with the history sections: the changes
// since the previous snapshot and a trend chart (inline SVG) of the kept
// snapshots and this run. hv nil = RenderHTML.
func RenderHTMLHistory(w io.Writer, r *Report, hv *HistoryView) error {
	return renderHTML(w, r, historySection(r, hv))
}

func historySection(r *Report, hv *HistoryView) *htmlHistory {
	if hv == nil {
		return nil
	}
	h := &htmlHistory{}
	if hv.Previous != nil {
		d := Diff(hv.Previous, r)
		// what moved in the inventory: source timings and datastores' free
		// space change at every run and would drown it
		d.Changed = slices.DeleteFunc(d.Changed, func(c Change) bool {
			return c.Kind == "datastore" && len(c.Fields) == 1 && c.Fields[0].Field == "free_bytes"
		})
		d.Differ = len(d.Added)+len(d.Removed)+len(d.Changed) > 0
		h.Changes, h.PrevAt = &d, hv.Previous.CollectedAt
	}
	points := append(slices.Clone(hv.Points), trendPoint(r))
	h.Runs = len(points)
	h.Chart = trendSVG(points)
	return h
}

// trendSeries are the lines of the chart: name, colour, value.
var trendSeries = []struct {
	name, color string
	value       func(TrendPoint) int
}{
	{"hosts", "#0969da", func(p TrendPoint) int { return p.Hosts }},
	{"VMs on", "#1a7f37", func(p TrendPoint) int { return p.VMsOn }},
	{"VMs off", "#8c959f", func(p TrendPoint) int { return p.VMsOff }},
	{"findings", "#cf222e", func(p TrendPoint) int { return p.Findings }},
}

// trendSVG draws the points as one polyline per series, with a dot per run
// whose tooltip gives its values. Only numbers and formatted times go into
// the markup; no script.
func trendSVG(points []TrendPoint) template.HTML {
	const w, h, left, right, top, bottom = 720.0, 200.0, 36.0, 12.0, 12.0, 28.0
	top1 := 1
	for _, p := range points {
		for _, s := range trendSeries {
			top1 = max(top1, s.value(p))
		}
	}
	x := func(i int) float64 {
		if len(points) == 1 {
			return left + (w-left-right)/2
		}
		return left + float64(i)*(w-left-right)/float64(len(points)-1)
	}
	y := func(v int) float64 { return top + (h-top-bottom)*(1-float64(v)/float64(top1)) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="trend" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" role="img" aria-label="trend over %d runs">`, w, h, w, h, len(points))
	for _, v := range []int{0, top1 / 2, top1} {
		fmt.Fprintf(&b, `<line class="grid" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"/><text class="axis" x="%.1f" y="%.1f" text-anchor="end">%d</text>`,
			left, w-right, y(v), y(v), left-6, y(v)+4, v)
	}
	label := func(i int, anchor string) {
		fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%.1f" text-anchor="%s">%s</text>`, x(i), h-8, anchor, points[i].At.UTC().Format("2006-01-02 15:04"))
	}
	if len(points) == 1 {
		label(0, "middle")
	} else {
		label(0, "start")
		label(len(points)-1, "end")
	}
	for _, s := range trendSeries {
		var pts []string
		for i, p := range points {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), y(s.value(p))))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`, s.color, strings.Join(pts, " "))
		for i, p := range points {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"><title>%s: %d %s</title></circle>`,
				x(i), y(s.value(p)), s.color, p.At.UTC().Format("2006-01-02 15:04"), s.value(p), s.name)
		}
	}
	b.WriteString(`</svg><div class="legend">`)
	for _, s := range trendSeries {
		fmt.Fprintf(&b, `<span><i style="background:%s"></i>%s</span>`, s.color, s.name)
	}
	b.WriteString(`</div>`)
	return template.HTML(b.String()) // numbers, fixed names and formatted times only
}
