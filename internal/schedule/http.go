package schedule

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/opsteam/ops/internal/bytesize"
	"github.com/opsteam/ops/internal/secret"
)

// HTTPOptions secure the endpoints of Handler and Serve (Options.HTTP).
// The zero value serves every endpoint in plain HTTP to anyone.
type HTTPOptions struct {
	// Token, when not nil, is called for every request and returns the
	// token the request must present as "Authorization: Bearer TOKEN"
	// (compared in constant time); every endpoint, unknown paths included,
	// answers 401 with "WWW-Authenticate: Bearer" otherwise. A Token that
	// returns an empty token refuses every request. nil: no authentication.
	Token func() secret.Secret
	// TLS, when not nil, makes Serve speak HTTPS only, with this config
	// (Certificates or GetCertificate must be set).
	TLS *tls.Config
	// NoStatusPage makes / and /status.json answer 404; /metrics and
	// /healthz are always served.
	NoStatusPage bool
}

// Handler serves:
//
//	/metrics      the metrics Set (Prometheus text or protobuf, negotiated)
//	/healthz      200 "ok" while the scheduler runs; 503 "not started" before Start, "stopping" once stopping,
//	              "past timeout: JOB (…), …" while a run goes on past its job's timeout
//	/status.json  Status() as JSON (404 with HTTPOptions.NoStatusPage)
//	/             a self-contained HTML status page (404 with HTTPOptions.NoStatusPage)
//
// With HTTPOptions.Token, every request needs the bearer token.
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
	if !s.o.HTTP.NoStatusPage {
		mux.HandleFunc("GET /status.json", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			_ = enc.Encode(s.Page(r.Context()))
		})
		mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
			if err := statusTmpl.Execute(w, s.Page(r.Context())); err != nil {
				s.log.Warn("status page", "err", err)
			}
		})
	}
	if s.o.HTTP.Token != nil {
		return requireToken(s.o.HTTP.Token, mux)
	}
	return mux
}

// requireToken answers 401 to every request without the bearer token that
// token returns (RFC 6750).
func requireToken(token func() secret.Secret, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, present := bearerToken(r.Header.Get("Authorization"))
		want := token()
		if present && tokenEqual(got, want.Reveal()) { // got is never empty: an empty want matches nothing
			next.ServeHTTP(w, r)
			return
		}
		challenge := `Bearer realm="ops"`
		if present {
			challenge += `, error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", challenge)
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, "unauthorized: a bearer token is required (Authorization: Bearer TOKEN)", http.StatusUnauthorized)
	})
}

// bearerToken extracts the token of an "Authorization: Bearer TOKEN" header
// (the scheme is case-insensitive).
func bearerToken(header string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// tokenEqual compares in constant time, lengths included (both sides are
// hashed first).
func tokenEqual(got, want string) bool {
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
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
		return age(time.Since(t)) + " ago"
	},
	"secs": func(f float64) string {
		if d := time.Duration(f * float64(time.Second)); d < 10*time.Second {
			return d.Round(100 * time.Millisecond).String() // a lag: tenths of a second
		}
		return age(time.Duration(f * float64(time.Second)))
	},
	"size": bytesize.Human,
	"dur": func(a, b time.Time) string {
		if a.IsZero() || b.IsZero() {
			return ""
		}
		return b.Sub(a).Round(time.Millisecond).String()
	},
}).Parse(statusHTML))

// age prints a duration for people: seconds under a minute, then minutes,
// hours and days (2d3h, 5h12m, 42s).
func age(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return d.String()
	case d < time.Hour:
		return shortDur(d.Round(time.Minute))
	case d < 48*time.Hour:
		return shortDur(d.Round(time.Minute))
	}
	d = d.Round(time.Hour)
	days, hours := d/(24*time.Hour), (d%(24*time.Hour))/time.Hour
	if hours == 0 {
		return fmt.Sprintf("%dd", days)
	}
	return fmt.Sprintf("%dd%dh", days, hours)
}

// WriteStatusPage renders the HTML status page (Page).
func (s *Scheduler) WriteStatusPage(w interface{ Write([]byte) (int, error) }) error {
	return statusTmpl.Execute(w, s.Page(context.Background()))
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

// Serve is the whole daemon: Start, the HTTP endpoints on ln (HTTPS with
// HTTPOptions.TLS), a Reload for
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
		// TLS handshake failures, handler panics: into the daemon's log.
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	if s.o.HTTP.TLS != nil {
		srv.TLSConfig = s.o.HTTP.TLS.Clone()
		go func() { errc <- srv.ServeTLS(ln, "", "") }()
	} else {
		go func() { errc <- srv.Serve(ln) }()
	}
	s.log.Info("listening", "addr", ln.Addr().String(), "tls", s.o.HTTP.TLS != nil,
		"token", s.o.HTTP.Token != nil, "status_page", !s.o.HTTP.NoStatusPage)

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
