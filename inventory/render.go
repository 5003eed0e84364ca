package inventory

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"

	"github.com/opsteam/ops/internal/bytesize"
	"github.com/opsteam/ops/internal/output"
)

// Format is an output format.
type Format string

// Output formats.
const (
	FormatTable Format = "table"
	FormatJSON  Format = "json"
	FormatCSV   Format = "csv"
	FormatHTML  Format = "html"
)

// Formats lists the valid formats.
var Formats = []Format{FormatTable, FormatJSON, FormatCSV, FormatHTML}

// Kind selects one kind of record.
type Kind string

// Record kinds. KindAll ("") means every kind (CSV then defaults to KindVM).
const (
	KindAll       Kind = ""
	KindHost      Kind = "host"
	KindVM        Kind = "vm"
	KindFirewall  Kind = "firewall"
	KindFinding   Kind = "finding"
	KindDatastore Kind = "datastore"
	KindSource    Kind = "source"
)

// Kinds lists the valid kinds (without KindAll).
var Kinds = []Kind{KindHost, KindVM, KindFirewall, KindFinding, KindDatastore, KindSource}

// ParseFormat checks a --output value.
func ParseFormat(s string) (Format, error) {
	for _, f := range Formats {
		if string(f) == s {
			return f, nil
		}
	}
	return "", fmt.Errorf("output format %q: expected table, json, csv or html", s)
}

// ParseKind checks a --kind value ("" = all).
func ParseKind(s string) (Kind, error) {
	if s == "" {
		return KindAll, nil
	}
	for _, k := range Kinds {
		if string(k) == s {
			return k, nil
		}
	}
	return "", fmt.Errorf("kind %q: expected host, vm, firewall, finding, datastore or source", s)
}

// Render writes the report. kind limits the output to one kind of record:
// table and HTML show only that section (plus the summary), JSON keeps its
// shape with the other record lists empty, CSV writes that kind (default vm).
func Render(w io.Writer, r *Report, f Format, kind Kind) error {
	switch f {
	case FormatTable:
		return renderTable(w, r, kind)
	case FormatJSON:
		return renderJSON(w, filterKind(r, kind))
	case FormatCSV:
		if kind == KindAll {
			kind = KindVM
		}
		return renderCSV(w, r, kind)
	case FormatHTML:
		return RenderHTML(w, filterKind(r, kind))
	}
	return fmt.Errorf("output format %q: expected table, json, csv or html", f)
}

// RenderHistory is Render, with the history sections on the HTML page
// (RenderHTMLHistory) when hv is not nil.
func RenderHistory(w io.Writer, r *Report, f Format, kind Kind, hv *HistoryView) error {
	if f == FormatHTML && hv != nil {
		return RenderHTMLHistory(w, filterKind(r, kind), hv)
	}
	return Render(w, r, f, kind)
}

func filterKind(r *Report, kind Kind) *Report {
	if kind == KindAll {
		return r
	}
	c := *r
	if kind != KindHost {
		c.Hosts = []Host{}
	}
	if kind != KindVM {
		c.VMs = []VM{}
	}
	if kind != KindDatastore {
		c.Datastores = []Datastore{}
	}
	if kind != KindFirewall {
		c.Firewalls = []Firewall{}
	}
	if kind != KindFinding {
		c.Findings = []Finding{}
	}
	return &c
}

func renderJSON(w io.Writer, r *Report) error {
	c := *r
	c.Normalize()
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(&c)
}

// ---- CSV ----

func renderCSV(w io.Writer, r *Report, kind Kind) error {
	var rows any
	switch kind {
	case KindHost:
		rows = r.Hosts
	case KindVM:
		rows = r.VMs
	case KindFirewall:
		rows = r.Firewalls
	case KindFinding:
		rows = r.Findings
	case KindDatastore:
		rows = r.Datastores
	case KindSource:
		rows = r.Sources
	default:
		return fmt.Errorf("kind %q: expected host, vm, firewall, finding, datastore or source", kind)
	}
	cw := csv.NewWriter(w)
	rv := reflect.ValueOf(rows)
	t := rv.Type().Elem()
	var header []string
	var idx []int
	for i := 0; i < t.NumField(); i++ {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if tag == "" || tag == "-" || tag == "tables" || !t.Field(i).IsExported() {
			continue
		}
		header = append(header, tag)
		idx = append(idx, i)
	}
	if kind == KindFirewall {
		header = append(header, "tables", "chains")
	}
	if err := cw.Write(header); err != nil {
		return err
	}
	for i := 0; i < rv.Len(); i++ {
		row := make([]string, 0, len(header))
		for _, j := range idx {
			row = append(row, csvValue(rv.Index(i).Field(j)))
		}
		if kind == KindFirewall {
			fw := rv.Index(i).Interface().(Firewall)
			n := 0
			for _, t := range fw.Tables {
				n += len(t.Chains)
			}
			row = append(row, strconv.Itoa(len(fw.Tables)), strconv.Itoa(n))
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// csvValue renders a field; lists are joined with ";", licences as
// name=expires.
func csvValue(v reflect.Value) string {
	switch v.Kind() {
	case reflect.String:
		return v.String()
	case reflect.Int, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Slice:
		parts := make([]string, 0, v.Len())
		for i := 0; i < v.Len(); i++ {
			e := v.Index(i)
			if l, ok := e.Interface().(License); ok {
				exp := l.Expires
				if exp == "" {
					exp = "never"
				}
				parts = append(parts, l.Name+"="+exp)
				continue
			}
			parts = append(parts, csvValue(e))
		}
		return strings.Join(parts, ";")
	}
	return fmt.Sprint(v.Interface())
}

// ---- table ----

// renderTable writes the report as aligned tables; every cell goes through
// output.Escape, so a name or an error a source reported can neither act on
// the terminal nor forge a line.
func renderTable(w io.Writer, r *Report, kind Kind) error {
	tw := output.NewTableWriter(w)
	row := tw.Row
	section := func(title string, n int) { row(fmt.Sprintf("%s (%d)", title, n)) }
	show := func(k Kind) bool { return kind == KindAll || kind == k }
	itoa := strconv.Itoa

	if show(KindSource) {
		section("SOURCES", len(r.Sources))
		row("NAME", "TYPE", "ENDPOINT", "TIME", "STATUS")
		for _, s := range r.Sources {
			st := "ok"
			if !s.OK {
				st = "FAILED: " + oneLine(s.Error)
			}
			row(s.Name, s.Type, dash(s.Endpoint), fmt.Sprintf("%.1fs", float64(s.DurationMS)/1000), st)
		}
		row()
	}
	if show(KindHost) {
		section("HOSTS", len(r.Hosts))
		row("SOURCE", "NAME", "HYPERVISOR", "VERSION", "VENDOR", "MODEL", "CLUSTER", "CORES", "MEMORY", "CONNECTION", "POWER", "VMS")
		for _, h := range r.Hosts {
			conn := h.Connection
			if h.Maintenance {
				conn += " (maintenance)"
			}
			row(h.Source, h.Name, dash(h.Hypervisor), dash(h.Version), dash(h.Vendor), dash(h.Model),
				dash(h.Cluster), num(h.CPUCores), mem(h.MemoryBytes), dash(conn), dash(h.Power), itoa(h.VMCount))
		}
		row()
	}
	if show(KindVM) {
		section("VMS", len(r.VMs))
		row("SOURCE", "NAME", "HOST", "POWER", "CPUS", "MEMORY", "GUEST OS", "IPS")
		for _, v := range r.VMs {
			row(v.Source, v.Name, dash(v.Host), dash(v.Power), num(v.CPUs), mem(v.MemoryBytes),
				dash(v.GuestOS), dash(strings.Join(v.IPs, ",")))
		}
		row()
	}
	if show(KindDatastore) {
		section("DATASTORES", len(r.Datastores))
		row("SOURCE", "NAME", "TYPE", "CAPACITY", "FREE", "FREE%")
		for _, d := range r.Datastores {
			pct := "-"
			if d.CapacityBytes > 0 {
				pct = fmt.Sprintf("%.0f%%", 100*float64(d.FreeBytes)/float64(d.CapacityBytes))
			}
			row(d.Source, d.Name, dash(d.Type), mem(d.CapacityBytes), mem(d.FreeBytes), pct)
		}
		row()
	}
	if show(KindFirewall) {
		section("FIREWALLS", len(r.Firewalls))
		row("SOURCE", "NAME", "VENDOR", "MODEL", "VERSION", "RULES", "CAPABILITIES", "LICENSES")
		for _, f := range r.Firewalls {
			var lic []string
			for _, l := range f.Licenses {
				exp := l.Expires
				if exp == "" {
					exp = "never"
				}
				lic = append(lic, l.Name+" ("+exp+")")
			}
			row(f.Source, f.Name, dash(f.Vendor), dash(f.Model), dash(f.Version), itoa(f.Rules),
				dash(strings.Join(f.Capabilities, ",")), dash(strings.Join(lic, ", ")))
		}
		row()
	}
	if show(KindFinding) {
		section("FINDINGS", len(r.Findings))
		row("SEVERITY", "CHECK", "KIND", "SOURCE", "OBJECT", "MESSAGE")
		for _, f := range r.Findings {
			row(strings.ToUpper(f.Severity), f.Check, f.Kind, f.Source, f.Object, f.Message)
		}
		row()
	}
	s := r.Summarize()
	row("SUMMARY")
	row("sources", fmt.Sprintf("%d (%d failed)", s.Sources, s.SourcesFailed))
	row("hosts", fmt.Sprintf("%d (%d connected, %d in maintenance)", s.Hosts, s.HostsConnected, s.HostsMaintenance))
	row("vms", fmt.Sprintf("%d (%d on, %d off, %d suspended)", s.VMs, s.VMsOn, s.VMsOff, s.VMsSuspended))
	row("datastores", itoa(s.Datastores))
	row("firewalls", fmt.Sprintf("%d (%d rules)", s.Firewalls, s.Rules))
	row("findings", fmt.Sprintf("%d errors, %d warnings, %d info", s.Errors, s.Warnings, s.Infos))
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func num(n int) string {
	if n == 0 {
		return "-"
	}
	return strconv.Itoa(n)
}

func mem(n int64) string {
	if n <= 0 {
		return "-"
	}
	return bytesize.Human(n)
}

func oneLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
