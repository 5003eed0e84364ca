package metrics

import (
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// KindBinlog is the kind of a binary log archiver (its lock and its logs).
const KindBinlog = "binlog"

// BinlogProgress is what an archiver reports at each scrape: the timestamp
// of the newest archived event (zero when unknown) and how long the oldest
// event not yet stored has waited (0 when every received event is stored).
type BinlogProgress func() (lastEvent time.Time, lag time.Duration)

// BinlogCollector exposes the state of the running binary log archivers:
// ops_binlog_last_event_timestamp_seconds{job} and ops_binlog_lag_seconds{job},
// read from each archiver when scraped. Register it on a Set's Registry.
type BinlogCollector struct {
	mu      sync.Mutex
	jobs    map[string]BinlogProgress
	lastEv  *prometheus.Desc
	lagDesc *prometheus.Desc
}

// NewBinlogCollector returns a collector with no archiver.
func NewBinlogCollector() *BinlogCollector {
	return &BinlogCollector{
		jobs: map[string]BinlogProgress{},
		lastEv: prometheus.NewDesc("ops_binlog_last_event_timestamp_seconds",
			"Timestamp (server clock, Unix time) of the newest binary log event stored in the archive of the job.", []string{"job"}, nil),
		lagDesc: prometheus.NewDesc("ops_binlog_lag_seconds",
			"How long the oldest binary log event received but not yet stored has waited (0 when every received event is stored): the current recovery point objective.", []string{"job"}, nil),
	}
}

// Set starts (or replaces) reporting an archiver.
func (c *BinlogCollector) Set(job string, p BinlogProgress) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.jobs[job] = p
}

// Remove stops reporting an archiver.
func (c *BinlogCollector) Remove(job string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.jobs, job)
}

// Describe implements prometheus.Collector.
func (c *BinlogCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.lastEv
	ch <- c.lagDesc
}

// Collect implements prometheus.Collector.
func (c *BinlogCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	names := make([]string, 0, len(c.jobs))
	for n := range c.jobs {
		names = append(names, n)
	}
	fns := make([]BinlogProgress, len(names))
	sort.Strings(names)
	for i, n := range names {
		fns[i] = c.jobs[n]
	}
	c.mu.Unlock()
	for i, n := range names {
		last, lag := fns[i]()
		if !last.IsZero() {
			ch <- prometheus.MustNewConstMetric(c.lastEv, prometheus.GaugeValue, unix(last), n)
		}
		ch <- prometheus.MustNewConstMetric(c.lagDesc, prometheus.GaugeValue, lag.Seconds(), n)
	}
}
