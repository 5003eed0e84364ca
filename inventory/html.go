package inventory

import (
	"cmp"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/opsteam/ops/internal/bytesize"
)

//go:embed assets/report.html.tmpl
var reportTmplText string

//go:embed assets/report.css
var reportCSS string

//go:embed assets/report.js
var reportJS string

var reportTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"mem": func(n int64) string {
		if n <= 0 {
			return "–"
		}
		return bytesize.Human(n)
	},
	"num": func(n int) string {
		if n == 0 {
			return "–"
		}
		return fmt.Sprint(n)
	},
	"dash": func(s string) string {
		if s == "" {
			return "–"
		}
		return s
	},
	"join": strings.Join,
	"pct": func(part, total int) string {
		if total == 0 {
			return "0"
		}
		return fmt.Sprintf("%.2f", 100*float64(part)/float64(total))
	},
	"pct64": func(part, total int64) string {
		if total <= 0 {
			return "0"
		}
		return fmt.Sprintf("%.1f", 100*float64(part)/float64(total))
	},
	"sub":    func(a, b int) int { return a - b },
	"sub64":  func(a, b int64) int64 { return a - b },
	"used":   func(d Datastore) int64 { return d.CapacityBytes - d.FreeBytes },
	"upper":  strings.ToUpper,
	"plural": plural,
	"hostSpecs": func(h Host) []string {
		var out []string
		if h.CPUCores > 0 {
			c := fmt.Sprintf("%d cores", h.CPUCores)
			if h.CPUMHz > 0 {
				c += fmt.Sprintf(" @ %d MHz", h.CPUMHz)
			}
			out = append(out, c)
		}
		if h.MemoryBytes > 0 {
			out = append(out, bytesize.Human(h.MemoryBytes))
		}
		if v := strings.TrimSpace(h.Vendor + " " + h.Model); v != "" {
			out = append(out, v)
		}
		if len(out) == 0 {
			out = append(out, "no hardware details")
		}
		return out
	},
	"licState": func(l License, at time.Time) string {
		if l.Expires == "" {
			return ""
		}
		exp, err := time.Parse(time.DateOnly, l.Expires)
		if err != nil {
			return "expiring"
		}
		day := time.Date(at.Year(), at.Month(), at.Day(), 0, 0, 0, 0, time.UTC)
		switch {
		case exp.Before(day):
			return "expired"
		case exp.Sub(day) <= DefaultLicenseWarning:
			return "expiring"
		}
		return ""
	},
	"jsonText": jsonText,
	"lic": func(l License) string {
		if l.Expires == "" {
			return l.Name + " (never expires)"
		}
		return l.Name + " (until " + l.Expires + ")"
	},
}).Parse(reportTmplText))

type htmlHost struct {
	Host
	VMs      []VM
	Findings int
	Worst    string // severity of the worst finding on the host or its VMs
}

type htmlCluster struct {
	Name  string // "" = hosts outside any cluster
	Hosts []htmlHost
	VMs   int
}

type htmlGroup struct {
	Source   SourceStatus
	Hosts    []htmlHost
	Clusters []htmlCluster
	Unplaced []VM // VMs whose host the source did not report
	VMsOn    int
	VMsTotal int
}

type htmlData struct {
	R        *Report
	S        Summary
	Groups   []htmlGroup
	CSS      template.CSS
	JS       template.JS
	Title    string
	Capacity int64
	Free     int64
	Failed   []SourceStatus
	// FirewallsBad counts firewalls with an error finding.
	FirewallsBad int
	ByObject     map[string]string // "kind/source/object" → worst severity
	History      *htmlHistory      // nil without inventory.history
}

// RenderHTML writes a self-contained page (no external assets): summary
// tiles, failed sources, highlighted findings, hosts grouped per source with
// their VMs' power states at a glance, and sortable, filterable tables.
func RenderHTML(w io.Writer, r *Report) error { return renderHTML(w, r, nil) }

func renderHTML(w io.Writer, r *Report, hist *htmlHistory) error {
	d := htmlData{R: r, S: r.Summarize(), CSS: template.CSS(reportCSS), JS: template.JS(reportJS), Title: "Inventory",
		ByObject: worstByObject(r.Findings), History: hist}
	for _, f := range r.Firewalls {
		if d.ByObject["firewall/"+f.Source+"/"+f.Name] == SeverityError {
			d.FirewallsBad++
		}
	}
	for _, s := range r.Sources {
		if !s.OK {
			d.Failed = append(d.Failed, s)
		}
	}
	for _, ds := range r.Datastores {
		d.Capacity += ds.CapacityBytes
		d.Free += ds.FreeBytes
	}
	groups := map[string]*htmlGroup{}
	var order []string
	group := func(src string) *htmlGroup {
		g, ok := groups[src]
		if !ok {
			g = &htmlGroup{Source: SourceStatus{Name: src, OK: true}}
			for _, s := range r.Sources {
				if s.Name == src {
					g.Source = s
				}
			}
			groups[src] = g
			order = append(order, src)
		}
		return g
	}
	hostIdx := map[string]int{}
	for _, h := range r.Hosts {
		g := group(h.Source)
		hostIdx[h.Source+"\x00"+h.Name] = len(g.Hosts)
		hh := htmlHost{Host: h, Worst: d.ByObject["host/"+h.Source+"/"+h.Name]}
		if hh.Worst != "" {
			hh.Findings++
		}
		g.Hosts = append(g.Hosts, hh)
	}
	for _, v := range r.VMs {
		g := group(v.Source)
		g.VMsTotal++
		if v.Power == PowerOn {
			g.VMsOn++
		}
		i, ok := hostIdx[v.Source+"\x00"+v.Host]
		if !ok {
			g.Unplaced = append(g.Unplaced, v)
			continue
		}
		h := &g.Hosts[i]
		h.VMs = append(h.VMs, v)
		if sev := d.ByObject["vm/"+v.Source+"/"+v.Name]; sev != "" {
			h.Findings++
			if h.Worst == "" || severityRank(sev) < severityRank(h.Worst) {
				h.Worst = sev
			}
		}
	}
	slices.Sort(order)
	for _, k := range order {
		g := groups[k]
		// problems first, then by name
		slices.SortStableFunc(g.Hosts, func(a, b htmlHost) int {
			return cmp.Or(cmp.Compare(hostRank(a), hostRank(b)), cmp.Compare(a.Name, b.Name))
		})
		// one block per cluster (clusters by name, standalone hosts last)
		byCluster := map[string]int{}
		for _, h := range g.Hosts {
			i, ok := byCluster[h.Cluster]
			if !ok {
				i = len(g.Clusters)
				byCluster[h.Cluster] = i
				g.Clusters = append(g.Clusters, htmlCluster{Name: h.Cluster})
			}
			g.Clusters[i].Hosts = append(g.Clusters[i].Hosts, h)
			g.Clusters[i].VMs += len(h.VMs)
		}
		slices.SortStableFunc(g.Clusters, func(a, b htmlCluster) int {
			if (a.Name == "") != (b.Name == "") {
				if a.Name == "" {
					return 1
				}
				return -1
			}
			return cmp.Compare(a.Name, b.Name)
		})
		d.Groups = append(d.Groups, *g)
	}
	return reportTmpl.Execute(w, d)
}

// worstByObject maps "kind/source/object" to its worst finding's severity.
func worstByObject(findings []Finding) map[string]string {
	m := map[string]string{}
	for _, f := range findings {
		k := f.Kind + "/" + f.Source + "/" + f.Object
		if cur, ok := m[k]; !ok || severityRank(f.Severity) < severityRank(cur) {
			m[k] = f.Severity
		}
	}
	return m
}

func hostRank(h htmlHost) int {
	switch {
	case h.Connection != ConnConnected:
		return 0
	case h.Maintenance:
		return 1
	case h.Worst != "":
		return 2
	}
	return 3
}
