package schedule

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Handler serves:
//
//	/metrics      the metrics Set (Prometheus text or protobuf, negotiated)
//	/healthz      200 "ok" while the scheduler runs; 503 "not started" before Start, "stopping" once stopping,
//	              "past timeout: JOB (…), …" while a run goes on past its job's timeout
//	/status.json  Status() as JSON
//	/             a self-contained HTML status page
func (s *Scheduler) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.m.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		state := s.state()
		if state != "ok" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		fmt.Fprintln(w, state)
	})
	mux.HandleFunc("GET /status.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		state := s.state()
		_ = enc.Encode(struct {
			Healthy bool        `json:"healthy"` // what /healthz says: 200 or 503
			State   string      `json:"state"`   // the body of /healthz
			Jobs    []JobStatus `json:"jobs"`
		}{state == "ok", state, s.Status()})
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		if err := s.WriteStatusPage(w); err != nil {
			s.log.Warn("status page", "err", err)
		}
	})
	return mux
}

//go:embed status.html
var statusHTML string

var statusTmpl = template.Must(template.New("status").Funcs(template.FuncMap{
	"t": func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.Format(TimeLayout)
	},
	"ago": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return time.Since(t).Round(time.Second).String() + " ago"
	},
	"dur": func(a, b time.Time) string {
		if a.IsZero() || b.IsZero() {
			return ""
		}
		return b.Sub(a).Round(time.Millisecond).String()
	},
}).Parse(statusHTML))

// WriteStatusPage renders the HTML status page.
func (s *Scheduler) WriteStatusPage(w interface{ Write([]byte) (int, error) }) error {
	host, _ := os.Hostname()
	state := s.state()
	return statusTmpl.Execute(w, struct {
		Host    string
		Now     time.Time
		Healthy bool
		State   string
		Jobs    []JobStatus
	}{host, time.Now().In(s.o.Location), state == "ok", state, s.Status()})
}

// nextRunCollector exposes ops_job_next_run_timestamp_seconds and
// ops_scheduler_up, read from the scheduler at scrape time.
type nextRunCollector struct{ s *Scheduler }

var (
	nextRunDesc = prometheus.NewDesc("ops_job_next_run_timestamp_seconds",
		"When the job runs next (Unix time); absent for jobs without a schedule.", []string{"kind", "name"}, nil)
	upDesc = prometheus.NewDesc("ops_scheduler_up",
		"1 while the scheduler runs, 0 once it is stopping (like /healthz).", nil, nil)
)

func (c *nextRunCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- nextRunDesc
	ch <- upDesc
}

func (c *nextRunCollector) Collect(ch chan<- prometheus.Metric) {
	up := 0.0
	if c.s.Healthy() {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, up)
	for _, st := range c.s.Status() {
		if !st.Next.IsZero() {
			ch <- prometheus.MustNewConstMetric(nextRunDesc, prometheus.GaugeValue,
				float64(st.Next.UnixNano())/1e9, st.Kind, st.Name)
		}
	}
}

// Serve is the whole daemon: Start, the HTTP endpoints on ln, a Reload for
// every value received on reload (pass a channel fed by
// signal.Notify(ch, syscall.SIGHUP); nil = never), and on ctx's end a
// graceful Stop while /healthz answers 503, then the HTTP server's shutdown.
// A failed reload is logged and the daemon goes on; a failed first load is
// returned. ln is closed on return.
func (s *Scheduler) Serve(ctx context.Context, ln net.Listener, reload <-chan os.Signal) error {
	if err := s.Start(ctx); err != nil {
		_ = ln.Close()
		return err
	}
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("listening", "addr", ln.Addr().String())

	var serveErr error
loop:
	for {
		select {
		case <-ctx.Done():
			s.log.Info("stop requested: no new runs")
			break loop
		case sig := <-reload:
			s.log.Info("reloading the configuration", "signal", fmt.Sprint(sig))
			_ = s.Reload(ctx) // logged by Reload; the old set keeps running
		case err := <-errc:
			serveErr = fmt.Errorf("http server: %w", err)
			s.log.Error("http server failed: stopping", "err", err)
			break loop
		}
	}
	stopErr := s.Stop()
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		_ = srv.Close()
	}
	if serveErr == nil {
		if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
			serveErr = fmt.Errorf("http server: %w", err)
		}
	}
	return errors.Join(serveErr, stopErr)
}

// ListenAndServe listens on addr (serve.listen, e.g. 127.0.0.1:9273) and
// calls Serve. The address is bound before any job is loaded, so a port in
// use fails fast.
func (s *Scheduler) ListenAndServe(ctx context.Context, addr string, reload <-chan os.Signal) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	return s.Serve(ctx, ln, reload)
}
