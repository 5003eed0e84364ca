package inventory

import (
	"bytes"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// sampleHistory keeps two earlier runs of the sample in a History and
// returns its view, as `ops inventory` reads it before saving the current
// run: two days ago ci-runner did not exist yet and web-02 was off; a day
// ago ci-runner was off with 2 CPUs, scratch-07 (since removed) existed
// and there were fewer findings.
func sampleHistory(t *testing.T) *HistoryView {
	t.Helper()
	h := History{Dir: t.TempDir()}
	for i, mutate := range []func(r *Report){
		func(r *Report) {
			r.VMs = slices.DeleteFunc(r.VMs, func(v VM) bool { return v.Name == "ci-runner" })
			for i := range r.VMs {
				if r.VMs[i].Name == "web-02" {
					r.VMs[i].Power = PowerOff
				}
			}
			r.Findings = r.Findings[:2]
		},
		func(r *Report) {
			r.VMs = append(r.VMs, VM{Source: "kvm", Name: "scratch-07", Power: PowerOn})
			for i := range r.VMs {
				if r.VMs[i].Name == "ci-runner" {
					r.VMs[i].Power, r.VMs[i].CPUs = PowerOff, 2
				}
			}
			r.Findings = r.Findings[:5]
		},
	} {
		r := sampleReport(t)
		r.CollectedAt = fixedNow.Add(-time.Duration(2-i) * 24 * time.Hour)
		mutate(r)
		r.Normalize()
		if _, err := h.Save(r); err != nil {
			t.Fatal(err)
		}
	}
	snaps, err := h.List()
	if err != nil {
		t.Fatal(err)
	}
	return NewHistoryView(snaps)
}

// The page with a history: the trend chart as inline SVG (no script of its
// own, no external reference) and the changes since the previous snapshot,
// escaped like every name on the page.
func TestHTMLHistoryGolden(t *testing.T) {
	hv := sampleHistory(t)
	if len(hv.Points) != 2 || hv.Previous == nil || !hv.Previous.CollectedAt.Equal(fixedNow.Add(-24*time.Hour)) {
		t.Fatalf("view: %d points, previous %v", len(hv.Points), hv.Previous)
	}
	var b bytes.Buffer
	if err := RenderHistory(&b, sampleReport(t), FormatHTML, KindAll, hv); err != nil {
		t.Fatal(err)
	}
	golden(t, "report-history.html", b.Bytes())
	s := b.String()
	svg := regexp.MustCompile(`(?s)<svg class="trend".*?</svg>`).FindString(s)
	if svg == "" || strings.Count(svg, "<polyline") != 4 || strings.Count(svg, "<circle") != 12 || strings.Contains(svg, "script") {
		t.Errorf("trend chart: 4 series over 3 runs expected:\n%s", svg)
	}
	// findings over the runs: 2, 5, then the current 9
	for _, want := range []string{"2026-11-26 12:00: 2 findings", "2026-11-27 12:00: 5 findings", "2026-11-28 12:00: 9 findings",
		"2026-11-26 12:00: 4 VMs off", "2026-11-28 12:00: 3 VMs off"} {
		if !strings.Contains(svg, want) {
			t.Errorf("chart lacks %q", want)
		}
	}
	changes := s[strings.Index(s, "Changes since the previous snapshot"):]
	changes = changes[:strings.Index(changes, "</section>")]
	for _, want := range []string{"2026-11-27 12:00 UTC", "4 added · 1 removed · 1 changed", "<code>cpus</code> 2 → 4", "<code>power</code> &#34;off&#34; → &#34;on&#34;", "scratch-07"} {
		if !strings.Contains(changes, want) {
			t.Errorf("changes lack %q:\n%s", want, changes)
		}
	}
	if m := regexp.MustCompile(`(?i)(src|href)\s*=\s*"(https?:)?//`).FindString(s); m != "" {
		t.Errorf("page refers to an external asset: %s", m)
	}

	// a name from a snapshot is escaped like every name on the page
	prev := sampleReport(t)
	prev.VMs = append(prev.VMs, VM{Source: "kvm", Name: `<img src=x onerror=alert(1)>`, Power: PowerOn})
	b.Reset()
	if err := RenderHistory(&b, sampleReport(t), FormatHTML, KindAll, &HistoryView{Previous: prev}); err != nil {
		t.Fatal(err)
	}
	if s := b.String(); strings.Contains(s, "<img src=x") || !strings.Contains(s, "&lt;img src=x onerror=alert(1)&gt;") {
		t.Error("a VM name of a snapshot reached the page unescaped")
	}

}

// Without history the page has no history section; with a history but no
// previous snapshot it says this is the first one.
func TestHTMLHistoryFirstRun(t *testing.T) {
	r := sampleReport(t)
	var plain, first bytes.Buffer
	if err := RenderHistory(&plain, r, FormatHTML, KindAll, nil); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(plain.String(), `id="history"`) {
		t.Error("a history section without a history")
	}
	if err := RenderHistory(&first, r, FormatHTML, KindAll, NewHistoryView(nil)); err != nil {
		t.Fatal(err)
	}
	if s := first.String(); !strings.Contains(s, "This is the first kept snapshot.") || !strings.Contains(s, "1 run</span>") {
		t.Errorf("first run: %s", s[strings.Index(s, `id="history"`):][:600])
	}
}
