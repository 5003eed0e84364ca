package metrics

import (
	"sort"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// TLSRPT is the sum of the TLSRPT (RFC 8460) reports in `ops serve`'s
// tlscheck.report_dir.
type TLSRPT struct {
	Reports  int // reports summed (one met in two files counts once)
	BadFiles int // files that are not readable reports
	Policies []TLSRPTPolicy
}

// TLSRPTPolicy is the sessions of one (policy domain, policy type), and the
// failed ones by result type.
type TLSRPTPolicy struct {
	Domain, Type       string
	Successful, Failed int64
	Failures           map[string]int64 // result type → failed sessions
}

// TLSRPTSource returns the current sums; ok false: nothing to export (no
// report directory, or it could not be read).
type TLSRPTSource func() (sum TLSRPT, ok bool)

// TLSRPTCollector exposes ops_tlsrpt_sessions{policy_domain,policy_type,result}
// (result successful or failed), ops_tlsrpt_failures{policy_domain,policy_type,result_type},
// ops_tlsrpt_reports and ops_tlsrpt_bad_files, read from its source at each
// scrape. Register it on a Set's Registry.
type TLSRPTCollector struct {
	source   TLSRPTSource
	sessions *prometheus.Desc
	failures *prometheus.Desc
	reports  *prometheus.Desc
	bad      *prometheus.Desc
}

// NewTLSRPTCollector returns a collector reading source.
func NewTLSRPTCollector(source TLSRPTSource) *TLSRPTCollector {
	pt := []string{"policy_domain", "policy_type"}
	return &TLSRPTCollector{
		source: source,
		sessions: prometheus.NewDesc("ops_tlsrpt_sessions",
			"TLS sessions counted by the TLSRPT reports in tlscheck.report_dir, by policy and result (successful, failed).", append(pt, "result"), nil),
		failures: prometheus.NewDesc("ops_tlsrpt_failures",
			"Failed TLS sessions counted by the TLSRPT reports in tlscheck.report_dir, by policy and result type (e.g. certificate-expired).", append(pt, "result_type"), nil),
		reports: prometheus.NewDesc("ops_tlsrpt_reports",
			"TLSRPT reports summed from tlscheck.report_dir (a report in two files counts once).", nil, nil),
		bad: prometheus.NewDesc("ops_tlsrpt_bad_files",
			"Files in tlscheck.report_dir that are not readable TLSRPT reports (each is logged once with why).", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *TLSRPTCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.sessions
	ch <- c.failures
	ch <- c.reports
	ch <- c.bad
}

// Collect implements prometheus.Collector. Label values come from reports
// written by strangers: they are made valid UTF-8 and a series met twice is
// sent once, so that no report can make the whole scrape fail.
func (c *TLSRPTCollector) Collect(ch chan<- prometheus.Metric) {
	s, ok := c.source()
	if !ok {
		return
	}
	seen := map[string]bool{}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		for i, l := range labels {
			labels[i] = strings.ToValidUTF8(l, "\uFFFD")
		}
		k := d.String() + "\x00" + strings.Join(labels, "\x00")
		if seen[k] {
			return
		}
		seen[k] = true
		if m, err := prometheus.NewConstMetric(d, prometheus.GaugeValue, v, labels...); err == nil {
			ch <- m
		}
	}
	gauge(c.reports, float64(s.Reports))
	gauge(c.bad, float64(s.BadFiles))
	for _, p := range s.Policies {
		gauge(c.sessions, float64(p.Successful), p.Domain, p.Type, "successful")
		gauge(c.sessions, float64(p.Failed), p.Domain, p.Type, "failed")
		types := make([]string, 0, len(p.Failures))
		for rt := range p.Failures {
			types = append(types, rt)
		}
		sort.Strings(types)
		for _, rt := range types {
			gauge(c.failures, float64(p.Failures[rt]), p.Domain, p.Type, rt)
		}
	}
}
