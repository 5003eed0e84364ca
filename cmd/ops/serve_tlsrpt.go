package main

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/opsteam/ops/internal/metrics"
	"github.com/opsteam/ops/tlscheck/tlsrpt"
)

// TLSRPT reports in tlscheck.report_dir are summed at each scrape of
// /metrics: the scrape starts a scan (unless one runs, or one ended less
// than tlsrptMinAge ago) and waits for it at most tlsrptScrapeWait; a scan
// that takes longer (a huge directory, a slow disk) goes on in the
// background and the scrape exports the previous sums (none before the
// first scan ends). A scan reads only new or changed files (tlsrpt.Dir).
const (
	tlsrptScrapeWait = 2 * time.Second
	tlsrptMinAge     = 5 * time.Second
)

// tlsrptSource is `ops serve`'s metrics.TLSRPTSource.
type tlsrptSource struct {
	ctx    context.Context // serve's: its end stops a scan
	wait   time.Duration
	minAge time.Duration
	read   func(*tlsrpt.Dir, context.Context) (tlsrpt.DirSum, []tlsrpt.BadFile, error) // (*tlsrpt.Dir).Scan; tests slow it

	mu      sync.Mutex
	log     *slog.Logger
	dir     *tlsrpt.Dir // nil: tlscheck.report_dir is empty
	last    metrics.TLSRPT
	have    bool          // last holds the sums of dir
	scanned time.Time     // when the last scan of dir ended
	running chan struct{} // closed when the running scan ends; nil: none
	dirErr  string        // the listing error last logged ("" none)
	dropped int           // series left out of the last sums (logged when it changes)
}

func newTLSRPTSource(ctx context.Context) *tlsrptSource {
	return &tlsrptSource{ctx: ctx, wait: tlsrptScrapeWait, minAge: tlsrptMinAge, read: (*tlsrpt.Dir).Scan}
}

// setRuntime follows rt's tlscheck.report_dir (at start and after each
// reload; an unchanged directory keeps what was read) and starts a scan.
func (s *tlsrptSource) setRuntime(rt *opsRuntime) {
	path := rt.cfg.TLSCheck.ReportDir
	s.mu.Lock()
	s.log = rt.log
	if path == "" || s.dir == nil || s.dir.Path() != path {
		s.dir = nil
		s.have, s.last, s.scanned, s.dirErr, s.dropped = false, metrics.TLSRPT{}, time.Time{}, "", 0
		if path != "" {
			s.dir = tlsrpt.NewDir(path)
			rt.log.Info("summing TLSRPT reports for /metrics", "report_dir", path)
		}
	}
	s.mu.Unlock()
	s.refresh()
}

// get is the metrics source: it waits for a scan at most s.wait.
func (s *tlsrptSource) get() (metrics.TLSRPT, bool) {
	if done := s.refresh(); done != nil {
		t := time.NewTimer(s.wait)
		select {
		case <-done:
		case <-t.C:
		case <-s.ctx.Done():
		}
		t.Stop()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last, s.have
}

// refresh starts a scan when one is due and returns the running scan's end
// (nil when none runs).
func (s *tlsrptSource) refresh() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running != nil {
		return s.running
	}
	if s.dir == nil || (!s.scanned.IsZero() && time.Since(s.scanned) < s.minAge) {
		return nil
	}
	done := make(chan struct{})
	s.running = done
	go s.scan(s.dir, s.log, done)
	return done
}

// scan reads d, logs each bad file once, and keeps the sums if d is still
// the directory to report.
func (s *tlsrptSource) scan(d *tlsrpt.Dir, log *slog.Logger, done chan struct{}) {
	defer close(done)
	sum, fresh, err := s.read(d, s.ctx)
	for _, b := range fresh {
		log.Warn("tlscheck.report_dir: a file that is not a readable report is skipped (counted in ops_tlsrpt_bad_files)", "file", b.Name, "err", b.Err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.running = nil
	if s.dir != d { // report_dir changed meanwhile: read the new one now
		if s.dir != nil && s.ctx.Err() == nil {
			s.running = make(chan struct{})
			go s.scan(s.dir, s.log, s.running)
		}
		return
	}
	if errors.Is(err, context.Canceled) && s.ctx.Err() != nil {
		return // serve is stopping
	}
	s.scanned = time.Now()
	if err != nil {
		if err.Error() != s.dirErr {
			log.Error("tlscheck.report_dir: cannot read the directory; no ops_tlsrpt_* series until it can be", "err", err)
			s.dirErr = err.Error()
		}
		s.have, s.last = false, metrics.TLSRPT{}
		return
	}
	if s.dirErr != "" {
		log.Info("tlscheck.report_dir: readable again", "report_dir", d.Path())
		s.dirErr = ""
	}
	var dropped int
	s.last, dropped = tlsrptMetrics(sum)
	s.have = true
	if dropped > 0 && dropped != s.dropped {
		log.Warn("tlscheck.report_dir: too many policy domains or result types for the metrics; those with the fewest sessions are left out (ops tlscheck report DIR shows them all)",
			"report_dir", d.Path(), "series_left_out", dropped)
	}
	s.dropped = dropped
}

// Anyone may mail a report to a domain's rua= address, so a report could
// name any number of policy domains or result types: the series exported
// are bounded (the policies with the most sessions, the result types with
// the most failures), and what is left out is logged.
const (
	tlsrptMaxPolicies    = 1000
	tlsrptMaxResultTypes = 32 // per policy; RFC 8460 defines 11
)

// tlsrptMetrics turns a directory's sums into the metrics' shape: failures
// per result type (summed over MX hosts and sending IPs), at most
// tlsrptMaxPolicies policies and tlsrptMaxResultTypes result types each.
// dropped counts the series left out.
func tlsrptMetrics(d tlsrpt.DirSum) (m metrics.TLSRPT, dropped int) {
	m = metrics.TLSRPT{Reports: d.Summary.Reports, BadFiles: len(d.Bad)}
	pols := slices.Clone(d.Summary.Policies)
	if len(pols) > tlsrptMaxPolicies {
		slices.SortStableFunc(pols, func(a, b tlsrpt.PolicySum) int {
			return cmp.Compare(satAdd(b.Successful, b.Failed), satAdd(a.Successful, a.Failed))
		})
		dropped += len(pols) - tlsrptMaxPolicies
		pols = pols[:tlsrptMaxPolicies]
	}
	for _, p := range pols {
		mp := metrics.TLSRPTPolicy{Domain: p.PolicyDomain, Type: p.PolicyType, Successful: p.Successful, Failed: p.Failed,
			Failures: map[string]int64{}}
		for _, f := range p.Failures {
			mp.Failures[f.ResultType] = satAdd(mp.Failures[f.ResultType], f.Count)
		}
		if len(mp.Failures) > tlsrptMaxResultTypes {
			types := slices.Collect(maps.Keys(mp.Failures))
			slices.SortFunc(types, func(a, b string) int {
				return cmp.Or(cmp.Compare(mp.Failures[b], mp.Failures[a]), cmp.Compare(a, b))
			})
			for _, rt := range types[tlsrptMaxResultTypes:] {
				delete(mp.Failures, rt)
			}
			dropped += len(types) - tlsrptMaxResultTypes
		}
		m.Policies = append(m.Policies, mp)
	}
	return m, dropped
}

// satAdd adds session counts without wrapping around.
func satAdd(a, b int64) int64 {
	if a > 0 && b > 0 && a > (1<<63-1)-b {
		return 1<<63 - 1
	}
	return a + b
}
