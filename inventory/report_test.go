package inventory

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func render(t *testing.T, r *Report, f Format, k Kind) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Render(&b, r, f, k); err != nil {
		t.Fatalf("Render(%s, %q): %v", f, k, err)
	}
	return b.Bytes()
}

// The whole pipeline (sources → merge → findings → JSON) against a golden
// file; the JSON field names and vocabularies are the cli.md contract.
func TestReportJSONGolden(t *testing.T) {
	r := sampleReport(t)
	out := render(t, r, FormatJSON, KindAll)
	golden(t, "report.json", out)

	// rendering twice, or after a round trip through LoadReport, is identical
	var back Report
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	if again := render(t, &back, FormatJSON, KindAll); !bytes.Equal(again, out) {
		t.Error("JSON is not stable across a decode/encode round trip")
	}
}

func TestJSONContract(t *testing.T) {
	r := sampleReport(t)
	var m map[string]any
	if err := json.Unmarshal(render(t, r, FormatJSON, KindAll), &m); err != nil {
		t.Fatal(err)
	}
	need := map[string][]string{
		"hosts":     {"source", "name", "hypervisor", "version", "vendor", "model", "cpu_cores", "memory_bytes", "connection", "power"},
		"vms":       {"source", "name", "host", "power", "cpus", "memory_bytes", "guest_os", "ips"},
		"firewalls": {"source", "name", "vendor", "model", "version", "capabilities", "rules"},
		"sources":   {"name", "type", "ok", "error"},
		"findings":  {"severity", "object", "check", "message"},
	}
	for list, keys := range need {
		items, ok := m[list].([]any)
		if !ok || len(items) == 0 {
			t.Fatalf("%s: missing or empty", list)
		}
		for _, it := range items {
			obj := it.(map[string]any)
			for _, k := range keys {
				if _, ok := obj[k]; !ok {
					t.Errorf("%s: element %v lacks %q", list, obj["name"], k)
				}
			}
			if p, ok := obj["power"]; ok && !slices.Contains([]any{"on", "off", "suspended"}, p) {
				t.Errorf("%s %v: power %q not in on|off|suspended", list, obj["name"], p)
			}
			if c, ok := obj["connection"]; ok && !slices.Contains([]any{"connected", "disconnected", "not_responding"}, c) {
				t.Errorf("%s %v: connection %q not in the vocabulary", list, obj["name"], c)
			}
			if ips, ok := obj["ips"]; ok && ips == nil {
				t.Errorf("%s %v: ips is null, want []", list, obj["name"])
			}
		}
	}
}

func TestTableGolden(t *testing.T) {
	r := sampleReport(t)
	golden(t, "report.table", render(t, r, FormatTable, KindAll))
	golden(t, "report-vm.table", render(t, r, FormatTable, KindVM))
}

func TestCSVGolden(t *testing.T) {
	r := sampleReport(t)
	for _, k := range []Kind{KindHost, KindVM, KindFirewall, KindFinding, KindDatastore, KindSource} {
		out := render(t, r, FormatCSV, k)
		golden(t, "report-"+string(k)+".csv", out)
		rows, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
		if err != nil {
			t.Fatalf("%s: invalid CSV: %v", k, err)
		}
		if len(rows) < 2 || rows[0][0] == "" {
			t.Errorf("%s: want a header row and records, got %d rows", k, len(rows))
		}
	}
	// default kind is vm
	if !bytes.Equal(render(t, r, FormatCSV, KindAll), render(t, r, FormatCSV, KindVM)) {
		t.Error("CSV without a kind should be the vm CSV")
	}
}

func TestHTMLGolden(t *testing.T) {
	r := sampleReport(t)
	out := render(t, r, FormatHTML, KindAll)
	golden(t, "report.html", out)
	s := string(out)
	// self-contained: no external scripts, styles, images or fonts
	if m := regexp.MustCompile(`(?i)(src|href)\s*=\s*"(https?:)?//`).FindString(s); m != "" {
		t.Errorf("page refers to an external asset: %s", m)
	}
	for _, want := range []string{"<style>", "<script>", "class=\"sortable", "esx03.example.net", "sev-error", "vc-lab", "incorrect user name or password"} {
		if !strings.Contains(s, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

func TestHTMLEscapes(t *testing.T) {
	r := &Report{Hosts: []Host{{Source: "x", Name: `<script>alert(1)</script>`, Connection: ConnConnected, Power: PowerOn}}}
	r.Normalize()
	out := string(render(t, r, FormatHTML, KindAll))
	if strings.Contains(out, "<script>alert(1)") {
		t.Error("host name not escaped")
	}
}

func TestKindFilter(t *testing.T) {
	r := sampleReport(t)
	var m Report
	if err := json.Unmarshal(render(t, r, FormatJSON, KindFirewall), &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Firewalls) == 0 || len(m.Hosts) != 0 || len(m.VMs) != 0 || len(m.Findings) != 0 || len(m.Sources) == 0 {
		t.Errorf("kind firewall: got %d firewalls, %d hosts, %d vms, %d findings, %d sources", len(m.Firewalls), len(m.Hosts), len(m.VMs), len(m.Findings), len(m.Sources))
	}
	if _, err := ParseKind("vms"); err == nil {
		t.Error("ParseKind(vms) accepted")
	}
	if _, err := ParseFormat("xml"); err == nil {
		t.Error("ParseFormat(xml) accepted")
	}
}

// One failing source is reported with its error; the others still are.
func TestCollectPartial(t *testing.T) {
	r := sampleReport(t)
	var failed []string
	for _, s := range r.Sources {
		if !s.OK {
			failed = append(failed, s.Name)
			if s.Error == "" {
				t.Errorf("%s: failed without an error", s.Name)
			}
		}
	}
	if !slices.Equal(failed, []string{"vc-lab"}) {
		t.Errorf("failed sources = %v, want [vc-lab]", failed)
	}
	if len(r.Hosts) != 6 || len(r.VMs) != 8 || len(r.Firewalls) != 3 {
		t.Errorf("got %d hosts, %d vms, %d firewalls; want 6, 8, 3", len(r.Hosts), len(r.VMs), len(r.Firewalls))
	}
}

// The declared web-01 (source: vc) is shadowed by the discovered one: it
// appears once, as discovered; undiscoverable declared objects appear with
// the file source's name.
func TestMergeDeclared(t *testing.T) {
	r := sampleReport(t)
	var web []VM
	for _, v := range r.VMs {
		if v.Name == "web-01" {
			web = append(web, v)
		}
	}
	if len(web) != 1 || web[0].Source != "vc" {
		t.Fatalf("web-01 = %+v, want one VM from vc", web)
	}
	var hv1 Host
	for _, h := range r.Hosts {
		if h.Name == "hv1" {
			hv1 = h
		}
	}
	if hv1.Source != "declared" || hv1.Hypervisor != "hyper-v" || hv1.VMCount != 1 {
		t.Errorf("hv1 = %+v", hv1)
	}
}

func TestCollectErrorsAndTimeouts(t *testing.T) {
	ok := &fakeSource{name: "ok", typ: "test", recs: Records{Hosts: []Host{{Name: "h", Connection: ConnConnected, Power: PowerOn}}}}
	tests := []struct {
		name    string
		src     *fakeSource
		wantErr string
	}{
		{"error", &fakeSource{name: "bad", typ: "test", err: errors.New("connection refused")}, "connection refused"},
		{"hangs but honours ctx", &fakeSource{name: "slow", typ: "test", delay: time.Hour, wait: 100 * time.Millisecond}, "no answer within 100ms"},
		{"hangs and ignores ctx", &fakeSource{name: "stuck", typ: "test", delay: 3 * time.Second, ignoreCtx: true, wait: 100 * time.Millisecond}, "no answer within 100ms"},
		{"panics", &fakeSource{name: "boom", typ: "test", panicMsg: "nil map"}, "panic: nil map"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			r, err := Collect(t.Context(), Options{Sources: []Source{ok, tc.src}, Now: clock})
			if el := time.Since(start); el > 2*time.Second {
				t.Errorf("Collect took %s", el)
			}
			var se *SourceError
			if !errors.Is(err, ErrPartial) || !errors.As(err, &se) || se.Source != tc.src.name {
				t.Fatalf("err = %v, want ErrPartial with a SourceError for %s", err, tc.src.name)
			}
			if len(r.Hosts) != 1 {
				t.Errorf("the working source's host is missing: %+v", r.Hosts)
			}
			for _, s := range r.Sources {
				if s.Name == tc.src.name && (s.OK || !strings.Contains(s.Error, tc.wantErr)) {
					t.Errorf("source status = %+v, want error containing %q", s, tc.wantErr)
				}
			}
		})
	}
}

func TestCollectDefaultTimeout(t *testing.T) {
	slow := &fakeSource{name: "slow", typ: "test", delay: time.Hour}
	_, err := Collect(t.Context(), Options{Sources: []Source{slow}, Timeout: 50 * time.Millisecond})
	if !errors.Is(err, ErrPartial) || !strings.Contains(err.Error(), "no answer within 50ms") {
		t.Errorf("err = %v", err)
	}
}

func TestCollectCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	slow := &fakeSource{name: "slow", typ: "test", delay: time.Hour}
	_, err := Collect(ctx, Options{Sources: []Source{slow}})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled in the chain", err)
	}
}

func TestSummary(t *testing.T) {
	s := sampleReport(t).Summarize()
	// The sample's findings: 5 errors (gw1 capability, hv2 and esx03 not
	// connected, edge1 license expired, web-01 powered off) and 4 warnings
	// (gw1 empty accept chain, esx02 in maintenance, edge1 license expiring,
	// web-02's 8-day-old snapshot; old-build's is 1 day old: no finding).
	want := Summary{Sources: 5, SourcesFailed: 1, Hosts: 6, HostsConnected: 4, HostsMaintenance: 1, VMs: 8, VMsOn: 4, VMsOff: 3, VMsSuspended: 1,
		Datastores: 3, Firewalls: 3, Rules: 158, Errors: 5, Warnings: 4, Infos: 0}
	if s != want {
		t.Errorf("Summarize = %+v\nwant        %+v", s, want)
	}

	// The sample has no info finding: count each severity on a report
	// built by hand.
	r := &Report{Findings: []Finding{
		{Severity: SeverityWarning}, {Severity: SeverityInfo}, {Severity: SeverityError},
		{Severity: SeverityWarning}, {Severity: SeverityInfo}, {Severity: SeverityInfo},
	}}
	if got, want := r.Summarize(), (Summary{Errors: 1, Warnings: 2, Infos: 3}); got != want {
		t.Errorf("Summarize of 1 error, 2 warnings, 3 infos = %+v\nwant %+v", got, want)
	}
}
