package metrics

import (
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// KindBinlog is the kind of a binary log archiver (its lock and its logs).
const KindBinlog = "binlog"

// BinlogState is what an archiver reports at each scrape.
type BinlogState struct {
	LastEvent time.Time     // timestamp of the newest archived event (zero when unknown)
	Lag       time.Duration // how long the oldest event not yet stored has waited (0 when every received event is stored)
	Silent    time.Duration // how long the source has sent nothing, not even a heartbeat (0 when not running)
	Gaps      int           // gaps (logs purged before they were archived) met since the archiver started
}

// BinlogProgress reads an archiver's state.
type BinlogProgress func() BinlogState

// BinlogCollector exposes the state of the running binary log archivers:
// ops_binlog_last_event_timestamp_seconds{job}, ops_binlog_lag_seconds{job},
// ops_binlog_source_silent_seconds{job} and ops_binlog_gaps{job}, read from
// each archiver when scraped. Register it on a Set's Registry.
type BinlogCollector struct {
	mu         sync.Mutex
	jobs       map[string]BinlogProgress
	lastEv     *prometheus.Desc
	lagDesc    *prometheus.Desc
	silentDesc *prometheus.Desc
	gapsDesc   *prometheus.Desc
}

// NewBinlogCollector returns a collector with no archiver.
func NewBinlogCollector() *BinlogCollector {
	return &BinlogCollector{
		jobs: map[string]BinlogProgress{},
		lastEv: prometheus.NewDesc("ops_binlog_last_event_timestamp_seconds",
			"Timestamp (server clock, Unix time) of the newest binary log event stored in the archive of the job.", []string{"job"}, nil),
		lagDesc: prometheus.NewDesc("ops_binlog_lag_seconds",
			"How long the oldest binary log event received but not yet stored has waited (0 when every received event is stored): the current recovery point objective.", []string{"job"}, nil),
		silentDesc: prometheus.NewDesc("ops_binlog_source_silent_seconds",
			"How long the job's server has sent the archiver nothing, not even a heartbeat (every 10 s when idle): above 30 it is stopped, frozen or unreachable.", []string{"job"}, nil),
		gapsDesc: prometheus.NewDesc("ops_binlog_gaps",
			"Gaps met by the job's archiver since it started: binary logs the server purged before they were archived (points in time that cannot be recovered; take a new backup).", []string{"job"}, nil),
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

// State reads one archiver's state (for the status page); ok is false when
// the job's archiver is not reported.
func (c *BinlogCollector) State(job string) (st BinlogState, ok bool) {
	c.mu.Lock()
	p := c.jobs[job]
	c.mu.Unlock()
	if p == nil {
		return BinlogState{}, false
	}
	return p(), true
}

// Describe implements prometheus.Collector.
func (c *BinlogCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.lastEv
	ch <- c.lagDesc
	ch <- c.silentDesc
	ch <- c.gapsDesc
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
		st := fns[i]()
		if !st.LastEvent.IsZero() {
			ch <- prometheus.MustNewConstMetric(c.lastEv, prometheus.GaugeValue, unix(st.LastEvent), n)
		}
		ch <- prometheus.MustNewConstMetric(c.lagDesc, prometheus.GaugeValue, st.Lag.Seconds(), n)
		ch <- prometheus.MustNewConstMetric(c.silentDesc, prometheus.GaugeValue, st.Silent.Seconds(), n)
		ch <- prometheus.MustNewConstMetric(c.gapsDesc, prometheus.GaugeValue, float64(st.Gaps), n)
	}
}
