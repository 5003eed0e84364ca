package metrics

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/protobuf/proto"
)

// WriteTextfile writes what g gathers to path in the Prometheus text
// format, for node_exporter's textfile collector (--collector.textfile.directory;
// the name must end in ".prom").
//
// The file is replaced atomically (a hidden temp file in the same directory,
// fsync, rename), so the collector never reads half a file. The new content is
// merged with the file already there, so that one file can serve every
// one-shot command and every job, run by run:
//   - counters and histograms are added to the old values (ops_job_runs_total
//     counts every run, not just the last);
//   - gauges replace the old series with the same labels, and series the new
//     run did not produce are kept (a failed backup keeps
//     ops_backup_last_success_timestamp_seconds of the last good one, and
//     `--job a` does not erase job b);
//   - ops_tlscheck_verdict and ops_tlscheck_cert_expiry_timestamp_seconds are
//     replaced check by check, and the ops_inventory_*
//     families as a whole, because they describe the last run only.
//
// An old file that does not parse is replaced. Concurrent writers of one path
// are serialised with an advisory lock on PATH.lock.
func WriteTextfile(path string, g prometheus.Gatherer) error {
	fresh, err := g.Gather()
	if err != nil {
		return fmt.Errorf("gather metrics: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("metrics file: %w", err)
	}
	unlock, err := lockFile(path + ".lock")
	if err != nil {
		return fmt.Errorf("metrics file %s: lock: %w", path, err)
	}
	defer unlock()

	var old []*dto.MetricFamily
	if b, err := os.ReadFile(path); err == nil {
		old, _ = parseText(b) // unparseable: replaced by the new content
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("metrics file: %w", err)
	}
	var buf bytes.Buffer
	for _, mf := range merge(old, fresh) {
		if _, err := expfmt.MetricFamilyToText(&buf, mf); err != nil {
			return fmt.Errorf("encode metrics: %w", err)
		}
	}
	return writeAtomic(path, buf.Bytes(), 0o644)
}

// ParseText parses the Prometheus text exposition format, families sorted
// by name. Tests and tools use it to read /metrics or a textfile back.
func ParseText(b []byte) (map[string]*dto.MetricFamily, error) {
	fams, err := parseText(b)
	if err != nil {
		return nil, err
	}
	m := make(map[string]*dto.MetricFamily, len(fams))
	for _, f := range fams {
		m[f.GetName()] = f
	}
	return m, nil
}

func parseText(b []byte) ([]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	m, err := p.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	out := make([]*dto.MetricFamily, 0, len(m))
	for _, f := range m {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetName() < out[j].GetName() })
	return out, nil
}

func writeAtomic(path string, b []byte, perm os.FileMode) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	// The temp name must not end in .prom, or the collector could read it.
	f, err := os.CreateTemp(dir, "."+base+".*.tmp")
	if err != nil {
		return fmt.Errorf("metrics file: %w", err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(b); err != nil {
		return fmt.Errorf("metrics file: %w", err)
	}
	if err = f.Chmod(perm); err != nil {
		return fmt.Errorf("metrics file: %w", err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("metrics file: %w", err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("metrics file: %w", err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("metrics file: %w", err)
	}
	if d, derr := os.Open(dir); derr == nil { // make the rename durable; best effort
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// labelKey identifies a series within its family.
func labelKey(m *dto.Metric) string {
	pairs := make([]string, 0, len(m.GetLabel()))
	for _, l := range m.GetLabel() {
		pairs = append(pairs, l.GetName()+"\x00"+l.GetValue())
	}
	sort.Strings(pairs)
	return strings.Join(pairs, "\x01")
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// merge combines the families of an older textfile with freshly gathered
// ones, as documented on WriteTextfile.
func merge(old, fresh []*dto.MetricFamily) []*dto.MetricFamily {
	byName := map[string]*dto.MetricFamily{}
	for _, f := range old {
		byName[f.GetName()] = f
	}
	for _, nf := range fresh {
		name := nf.GetName()
		of, ok := byName[name]
		if !ok || of.GetType() != nf.GetType() || strings.HasPrefix(name, "ops_inventory_") {
			byName[name] = nf
			continue
		}
		var keep []*dto.Metric
		if byCheck(name) {
			checks := map[string]bool{}
			for _, m := range nf.GetMetric() {
				checks[label(m, "check")] = true
			}
			for _, m := range of.GetMetric() {
				if !checks[label(m, "check")] {
					keep = append(keep, m)
				}
			}
			of = &dto.MetricFamily{Name: of.Name, Help: of.Help, Type: of.Type, Metric: keep}
			keep = nil
		}
		oldSeries := map[string]*dto.Metric{}
		for _, m := range of.GetMetric() {
			oldSeries[labelKey(m)] = m
		}
		out := proto.Clone(nf).(*dto.MetricFamily)
		seen := map[string]bool{}
		for _, m := range out.GetMetric() {
			k := labelKey(m)
			seen[k] = true
			if om, ok := oldSeries[k]; ok {
				accumulate(nf.GetType(), m, om)
			}
		}
		for _, m := range of.GetMetric() {
			if !seen[labelKey(m)] {
				keep = append(keep, m)
			}
		}
		out.Metric = append(out.Metric, keep...)
		sort.SliceStable(out.Metric, func(i, j int) bool { return labelKey(out.Metric[i]) < labelKey(out.Metric[j]) })
		byName[name] = out
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]*dto.MetricFamily, 0, len(names))
	for _, n := range names {
		out = append(out, byName[n])
	}
	return out
}

// accumulate adds an old counter or histogram into the new one. Gauges and
// other types simply keep the new value.
func accumulate(t dto.MetricType, m, old *dto.Metric) {
	switch t {
	case dto.MetricType_COUNTER:
		if m.Counter != nil && old.Counter != nil {
			m.Counter.Value = proto.Float64(m.Counter.GetValue() + old.Counter.GetValue())
			m.Counter.CreatedTimestamp = old.Counter.CreatedTimestamp
		}
	case dto.MetricType_HISTOGRAM:
		h, oh := m.Histogram, old.Histogram
		if h == nil || oh == nil {
			return
		}
		nb, ob := finite(h.Bucket), finite(oh.Bucket)
		if len(nb) != len(ob) {
			return // different layout: keep the new one as is
		}
		for i := range nb {
			if nb[i].GetUpperBound() != ob[i].GetUpperBound() {
				return
			}
		}
		for i := range nb {
			nb[i].CumulativeCount = proto.Uint64(nb[i].GetCumulativeCount() + ob[i].GetCumulativeCount())
		}
		h.Bucket = nb
		h.SampleCount = proto.Uint64(h.GetSampleCount() + oh.GetSampleCount())
		h.SampleSum = proto.Float64(h.GetSampleSum() + oh.GetSampleSum())
		h.CreatedTimestamp = oh.CreatedTimestamp
	}
}

// finite drops the +Inf bucket, which the text parser keeps and the client
// library leaves implicit.
func finite(b []*dto.Bucket) []*dto.Bucket {
	if n := len(b); n > 0 && math.IsInf(b[n-1].GetUpperBound(), +1) {
		return b[:n-1]
	}
	return b
}

// Sample returns the value of the series of mf whose labels are exactly
// labels (a histogram gives its sample count); ok is false when absent.
func Sample(mf *dto.MetricFamily, labels map[string]string) (v float64, ok bool) {
next:
	for _, m := range mf.GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		for _, l := range m.GetLabel() {
			if w, ok := labels[l.GetName()]; !ok || w != l.GetValue() {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

// byCheck reports whether a family is replaced check by check (it describes
// the last run of each tlscheck check only).
func byCheck(name string) bool {
	switch name {
	case "ops_tlscheck_verdict", "ops_tlscheck_cert_expiry_timestamp_seconds":
		return true
	}
	return false
}
