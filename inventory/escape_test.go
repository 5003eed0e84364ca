package inventory

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
)

// hostile retitles the terminal (OSC 0 ... BEL) and clears it (CSI 2J).
const hostile = "\x1b]0;pwned\x07\x1b[2J"

// hostileReport: names a source reported, with terminal escapes, a line
// break that would forge a row, C1 controls and invalid UTF-8.
func hostileReport() *Report {
	r := &Report{
		Sources: []SourceStatus{{Name: "vc", Type: TypeVCenter, OK: false, Error: "ServerFaultCode: " + hostile}},
		Hosts:   []Host{{Source: "vc", Name: "esx" + hostile, Connection: ConnDisconnected}},
		VMs: []VM{
			{Source: "vc", Name: "web\nvc      evil   -  on", Power: PowerOn, GuestOS: "linux\u009b2J", IPs: []string{"10.0.0.1"}},
			{Source: "vc", Name: "tab\there\xff", Power: PowerOff},
		},
		Firewalls: []Firewall{{Source: "edge", Name: "gw\r1", Tables: []Table{{Family: "inet", Name: "t" + hostile,
			Chains: []Chain{{Name: "forward", Type: "filter", Hook: "forward", Policy: "accept"}}}}}},
	}
	r.Findings = Evaluate(r, Records{}, EvalOptions{Now: fixedNow})
	r.Normalize()
	return r
}

func assertTerminalSafe(t *testing.T, what, out string, lines int) {
	t.Helper()
	for _, c := range out {
		if (c < 0x20 && c != '\n') || c == 0x7f || (c >= 0x80 && c <= 0x9f) || c == '\uFFFD' {
			t.Errorf("%s: raw %U in:\n%q", what, c, out)
			return
		}
	}
	if !strings.Contains(out, `\x1b]0;pwned\x07\x1b[2J`) {
		t.Errorf("%s: the escaped name is missing:\n%s", what, out)
	}
	if lines > 0 && strings.Count(out, "\n") != lines {
		t.Errorf("%s: %d lines, want %d:\n%s", what, strings.Count(out, "\n"), lines, out)
	}
}

func TestTableEscapesSourceStrings(t *testing.T) {
	r := hostileReport()
	var b bytes.Buffer
	if err := Render(&b, r, FormatTable, KindAll); err != nil {
		t.Fatal(err)
	}
	// 6 sections of title + header + rows + blank, and 7 summary lines.
	rows := len(r.Sources) + len(r.Hosts) + len(r.VMs) + len(r.Datastores) + len(r.Firewalls) + len(r.Findings)
	assertTerminalSafe(t, "table", b.String(), 6*3+rows+7)
	if !strings.Contains(b.String(), `web\nvc      evil`) || !strings.Contains(b.String(), `tab\there\xff`) {
		t.Errorf("table:\n%s", b.String())
	}

	// diff and check text
	old := &Report{Sources: r.Sources}
	old.Normalize()
	b.Reset()
	if err := Diff(old, r).WriteText(&b); err != nil {
		t.Fatal(err)
	}
	assertTerminalSafe(t, "diff", b.String(), 0)
	changed := hostileReport()
	changed.VMs[vmNamed(changed, "web")].GuestOS = hostile
	b.Reset()
	if err := Diff(r, changed).WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `"linux\u009b2J" → "\u001b]0;pwned\u0007\u001b[2J"`) {
		t.Errorf("diff of a changed field:\n%s", b.String())
	}
	decl, err := ParseDeclared("inv.yaml", []byte("hosts:\n  - {name: hv1, source: vc}\n"))
	if err != nil {
		t.Fatal(err)
	}
	r.Sources[0].OK = true
	b.Reset()
	if err := Check(decl, r).WriteText(&b); err != nil {
		t.Fatal(err)
	}
	assertTerminalSafe(t, "check", b.String(), 0)
}

// JSON and CSV are data: they carry the exact bytes (JSON escapes them
// once, CSV quotes fields with a newline or a quote).
func TestJSONAndCSVKeepExactBytes(t *testing.T) {
	r := hostileReport()
	var b bytes.Buffer
	if err := Render(&b, r, FormatJSON, KindAll); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	// (JSON cannot carry invalid UTF-8: encoding/json writes U+FFFD.)
	for i := range r.VMs {
		if back.VMs[i].Name != strings.ToValidUTF8(r.VMs[i].Name, "\uFFFD") {
			t.Errorf("JSON round trip: %q became %q", r.VMs[i].Name, back.VMs[i].Name)
		}
	}
	if back.Hosts[0].Name != r.Hosts[0].Name {
		t.Errorf("JSON round trip: %q became %q", r.Hosts[0].Name, back.Hosts[0].Name)
	}
	b.Reset()
	if err := Render(&b, r, FormatCSV, KindVM); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1+len(r.VMs) || recs[1][1] != r.VMs[0].Name || recs[2][1] != r.VMs[1].Name || recs[2][8] != r.VMs[1].GuestOS {
		t.Errorf("CSV round trip: %q", recs)
	}
}

// The HTML report escapes markup (html/template); control characters are
// left as they are, inert in a browser.
func TestHTMLEscapesMarkup(t *testing.T) {
	r := hostileReport()
	r.VMs[vmNamed(r, "web")].Name = `<script>alert(1)</script>` + hostile
	var b bytes.Buffer
	if err := Render(&b, r, FormatHTML, KindAll); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "<script>alert") || !strings.Contains(b.String(), "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("HTML does not escape a VM name")
	}
}

func vmNamed(r *Report, prefix string) int {
	for i, v := range r.VMs {
		if strings.HasPrefix(v.Name, prefix) {
			return i
		}
	}
	panic("no VM " + prefix)
}
