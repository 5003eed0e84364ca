package inventory

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/opsteam/ops/internal/bytesize"
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

func renderTable(w io.Writer, r *Report, kind Kind) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(format string, a ...any) { fmt.Fprintf(tw, format, a...) }
	section := func(title string, n int) { p("%s (%d)\n", title, n) }
	show := func(k Kind) bool { return kind == KindAll || kind == k }

	if show(KindSource) {
		section("SOURCES", len(r.Sources))
		p("NAME\tTYPE\tENDPOINT\tTIME\tSTATUS\n")
		for _, s := range r.Sources {
			st := "ok"
			if !s.OK {
				st = "FAILED: " + oneLine(s.Error)
			}
			p("%s\t%s\t%s\t%s\t%s\n", s.Name, s.Type, dash(s.Endpoint), fmt.Sprintf("%.1fs", float64(s.DurationMS)/1000), st)
		}
		p("\n")
	}
	if show(KindHost) {
		section("HOSTS", len(r.Hosts))
		p("SOURCE\tNAME\tHYPERVISOR\tVERSION\tVENDOR\tMODEL\tCLUSTER\tCORES\tMEMORY\tCONNECTION\tPOWER\tVMS\n")
		for _, h := range r.Hosts {
			conn := h.Connection
			if h.Maintenance {
				conn += " (maintenance)"
			}
			p("%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", h.Source, h.Name, dash(h.Hypervisor), dash(h.Version), dash(h.Vendor), dash(h.Model),
				dash(h.Cluster), num(h.CPUCores), mem(h.MemoryBytes), dash(conn), dash(h.Power), h.VMCount)
		}
		p("\n")
	}
	if show(KindVM) {
		section("VMS", len(r.VMs))
		p("SOURCE\tNAME\tHOST\tPOWER\tCPUS\tMEMORY\tGUEST OS\tIPS\n")
		for _, v := range r.VMs {
			p("%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.Source, v.Name, dash(v.Host), dash(v.Power), num(v.CPUs), mem(v.MemoryBytes),
				dash(v.GuestOS), dash(strings.Join(v.IPs, ",")))
		}
		p("\n")
	}
	if show(KindDatastore) {
		section("DATASTORES", len(r.Datastores))
		p("SOURCE\tNAME\tTYPE\tCAPACITY\tFREE\tFREE%%\n")
		for _, d := range r.Datastores {
			pct := "-"
			if d.CapacityBytes > 0 {
				pct = fmt.Sprintf("%.0f%%", 100*float64(d.FreeBytes)/float64(d.CapacityBytes))
			}
			p("%s\t%s\t%s\t%s\t%s\t%s\n", d.Source, d.Name, dash(d.Type), mem(d.CapacityBytes), mem(d.FreeBytes), pct)
		}
		p("\n")
	}
	if show(KindFirewall) {
		section("FIREWALLS", len(r.Firewalls))
		p("SOURCE\tNAME\tVENDOR\tMODEL\tVERSION\tRULES\tCAPABILITIES\tLICENSES\n")
		for _, f := range r.Firewalls {
			var lic []string
			for _, l := range f.Licenses {
				exp := l.Expires
				if exp == "" {
					exp = "never"
				}
				lic = append(lic, l.Name+" ("+exp+")")
			}
			p("%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", f.Source, f.Name, dash(f.Vendor), dash(f.Model), dash(f.Version), f.Rules,
				dash(strings.Join(f.Capabilities, ",")), dash(strings.Join(lic, ", ")))
		}
		p("\n")
	}
	if show(KindFinding) {
		section("FINDINGS", len(r.Findings))
		p("SEVERITY\tCHECK\tKIND\tSOURCE\tOBJECT\tMESSAGE\n")
		for _, f := range r.Findings {
			p("%s\t%s\t%s\t%s\t%s\t%s\n", strings.ToUpper(f.Severity), f.Check, f.Kind, f.Source, f.Object, f.Message)
		}
		p("\n")
	}
	s := r.Summarize()
	p("SUMMARY\n")
	p("sources\t%d (%d failed)\n", s.Sources, s.SourcesFailed)
	p("hosts\t%d (%d connected, %d in maintenance)\n", s.Hosts, s.HostsConnected, s.HostsMaintenance)
	p("vms\t%d (%d on, %d off, %d suspended)\n", s.VMs, s.VMsOn, s.VMsOff, s.VMsSuspended)
	p("datastores\t%d\n", s.Datastores)
	p("firewalls\t%d (%d rules)\n", s.Firewalls, s.Rules)
	p("findings\t%d errors, %d warnings, %d info\n", s.Errors, s.Warnings, s.Infos)
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
