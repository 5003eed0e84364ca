package inventory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"strings"
	"time"
)

// ErrPartial is returned (joined with one *SourceError per failed source) by
// Collect when at least one source failed. The report is still complete for
// the other sources; cmd/ops exits 3 (runtime failure) for it.
var ErrPartial = errors.New("inventory incomplete: some sources failed")

// SourceError says which source failed.
type SourceError struct {
	Source string
	Err    error
}

func (e *SourceError) Error() string { return "source " + e.Source + ": " + e.Err.Error() }
func (e *SourceError) Unwrap() error { return e.Err }

// Source is one place inventory comes from. Implementations must honour
// ctx; Collect nevertheless stops waiting for a source when its timeout
// expires, so a source that hangs cannot hang the run.
type Source interface {
	Name() string
	Type() string     // vcenter | libvirt | file | nftables | anything for custom sources
	Endpoint() string // shown in reports; must not contain credentials
	Collect(ctx context.Context) (Records, error)
}

// DefaultTimeout bounds one source when neither the source nor Options set
// a timeout.
const DefaultTimeout = 60 * time.Second

// DefaultLicenseWarning is how long before expiry a licence is reported as
// expiring.
const DefaultLicenseWarning = 30 * 24 * time.Hour

// Options controls one Collect run.
type Options struct {
	Sources []Source
	// Timeout is the per-source timeout for sources without their own
	// (0 = DefaultTimeout).
	Timeout time.Duration
	// RequireFirewallCapabilities: a firewall lacking one yields a
	// firewall_capability finding.
	RequireFirewallCapabilities []string
	// SourceRequirements replace RequireFirewallCapabilities for the
	// firewalls of the sources they name (Config.SourceRequirements).
	SourceRequirements map[string][]string
	// LicenseWarning: licences expiring within this window yield a
	// license_expiring finding (0 = DefaultLicenseWarning).
	LicenseWarning time.Duration
	// SnapshotMaxAge: a VM whose oldest snapshot is older yields a
	// snapshot_age warning (0 = never).
	SnapshotMaxAge time.Duration
	// Now is the clock (nil = time.Now); tests inject a fixed one.
	Now func() time.Time
	// Logger receives one line per source (nil = discard).
	Logger *slog.Logger
}

type timeoutSource interface{ Timeout() time.Duration }

type sourceResult struct {
	status  SourceStatus
	records Records
	err     error
}

// Collect reads every source concurrently, each under its own timeout, merges
// the records, evaluates findings and returns the normalised report. The
// error is nil, or ErrPartial joined with the *SourceError of every failed
// source, and the report is there in both cases; when ctx is done (the run
// was interrupted) the report is nil and the error is ctx's.
func Collect(ctx context.Context, opts Options) (*Report, error) {
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	started := now()
	results := make([]sourceResult, len(opts.Sources))
	done := make(chan int, len(opts.Sources))
	for i, s := range opts.Sources {
		go func() {
			results[i] = runSource(ctx, s, opts.Timeout)
			done <- i
		}()
	}
	for range opts.Sources {
		i := <-done
		r := results[i]
		if r.err != nil {
			log.Warn("inventory source failed", "source", r.status.Name, "type", r.status.Type, "duration", time.Duration(r.status.DurationMS)*time.Millisecond, "err", r.err)
		} else {
			log.Info("inventory source read", "source", r.status.Name, "type", r.status.Type, "duration", time.Duration(r.status.DurationMS)*time.Millisecond,
				"hosts", len(r.records.Hosts), "vms", len(r.records.VMs), "firewalls", len(r.records.Firewalls))
		}
	}

	rep := &Report{Schema: Schema, CollectedAt: started.UTC().Truncate(time.Second)}
	var errs []error
	var declared []sourceResult
	var nh, nv, nf int
	for _, r := range results {
		nh, nv, nf = nh+len(r.records.Hosts), nv+len(r.records.VMs), nf+len(r.records.Firewalls)
	}
	rep.Hosts, rep.VMs, rep.Firewalls = make([]Host, 0, nh), make([]VM, 0, nv), make([]Firewall, 0, nf)
	for i, r := range results {
		rep.Sources = append(rep.Sources, r.status)
		if r.err != nil {
			errs = append(errs, &SourceError{Source: r.status.Name, Err: r.err})
		}
		if opts.Sources[i].Type() == TypeFile {
			declared = append(declared, r)
			continue
		}
		rep.Hosts = append(rep.Hosts, r.records.Hosts...)
		rep.VMs = append(rep.VMs, r.records.VMs...)
		rep.Datastores = append(rep.Datastores, r.records.Datastores...)
		rep.Firewalls = append(rep.Firewalls, r.records.Firewalls...)
	}
	var decl Records
	for _, d := range declared {
		decl.Hosts = append(decl.Hosts, d.records.Hosts...)
		decl.VMs = append(decl.VMs, d.records.VMs...)
		decl.Firewalls = append(decl.Firewalls, d.records.Firewalls...)
		decl.Datastores = append(decl.Datastores, d.records.Datastores...)
	}
	// Interrupted (SIGINT, SIGTERM): no report at all rather than one whose
	// sources all failed, which --out would write over a good one.
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	log.Debug("inventory merge", "hosts", len(rep.Hosts), "vms", len(rep.VMs), "firewalls", len(rep.Firewalls),
		"declared_hosts", len(decl.Hosts), "declared_vms", len(decl.VMs), "declared_firewalls", len(decl.Firewalls))
	if err := mergeDeclared(ctx, rep, decl); err != nil {
		return nil, err
	}
	countVMs(rep)
	rep.Findings = Evaluate(rep, decl, EvalOptions{
		RequireFirewallCapabilities: opts.RequireFirewallCapabilities,
		SourceRequirements:          opts.SourceRequirements,
		LicenseWarning:              opts.LicenseWarning,
		SnapshotMaxAge:              opts.SnapshotMaxAge,
		Now:                         now(),
	})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rep.Normalize()
	if len(errs) > 0 {
		return rep, errors.Join(append([]error{ErrPartial}, errs...)...)
	}
	return rep, nil
}

func runSource(ctx context.Context, s Source, def time.Duration) (res sourceResult) {
	res.status = SourceStatus{Name: s.Name(), Type: s.Type(), Endpoint: s.Endpoint()}
	timeout := def
	if ts, ok := s.(timeoutSource); ok && ts.Timeout() > 0 {
		timeout = ts.Timeout()
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	start := time.Now()
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ch := make(chan sourceResult, 1) // buffered: an abandoned source never blocks
	go func() {
		var r sourceResult
		defer func() {
			if p := recover(); p != nil {
				r.err = fmt.Errorf("panic: %v\n%s", p, firstLines(string(debug.Stack()), 12))
			}
			ch <- r
		}()
		r.records, r.err = s.Collect(sctx)
	}()
	select {
	case r := <-ch:
		res.records, res.err = r.records, r.err
		if res.err != nil && errors.Is(sctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			res.err = fmt.Errorf("no answer within %s: %w", timeout, res.err)
		}
	case <-sctx.Done():
		if ctx.Err() != nil {
			res.err = ctx.Err()
		} else {
			res.err = fmt.Errorf("no answer within %s: %w", timeout, context.DeadlineExceeded)
		}
	}
	res.status.DurationMS = time.Since(start).Milliseconds()
	if res.err != nil {
		res.status.Error = res.err.Error()
		// A failed source contributes nothing: half-read data would
		// look like removals in a diff.
		res.records = Records{}
	} else {
		res.status.OK = true
		tag(&res.records, s.Name())
	}
	return res
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}

// tag sets the source name on every record that has none.
func tag(r *Records, name string) {
	for i := range r.Hosts {
		if r.Hosts[i].Source == "" {
			r.Hosts[i].Source = name
		}
	}
	for i := range r.VMs {
		if r.VMs[i].Source == "" {
			r.VMs[i].Source = name
		}
	}
	for i := range r.Datastores {
		if r.Datastores[i].Source == "" {
			r.Datastores[i].Source = name
		}
	}
	for i := range r.Firewalls {
		if r.Firewalls[i].Source == "" {
			r.Firewalls[i].Source = name
		}
	}
}

// mergeDeclared adds the declared records that no source discovered: a
// declared VM that vCenter also reports appears once, as discovered (the
// declaration is then an expectation, see Evaluate and Check). Declared
// records that nothing can discover (Hyper-V hosts, appliance firewalls)
// appear as they are, with the file source's name. It takes time linear in
// the number of records and returns ctx's error when ctx is done before the
// end (rep is then half merged).
func mergeDeclared(ctx context.Context, rep *Report, decl Records) error {
	if err := mergeKind(ctx, &rep.Hosts, decl.Hosts, true, func(h *Host) (string, string, string) { return h.Source, h.Name, h.scope }); err != nil {
		return err
	}
	if err := mergeKind(ctx, &rep.VMs, decl.VMs, false, func(v *VM) (string, string, string) { return v.Source, v.Name, v.scope }); err != nil {
		return err
	}
	if err := mergeKind(ctx, &rep.Firewalls, decl.Firewalls, true, func(f *Firewall) (string, string, string) { return f.Source, f.Name, f.scope }); err != nil {
		return err
	}
	// A declared requirement also applies to the discovered firewall of the
	// same name (a declaration with only name and require_capabilities).
	for _, d := range decl.Firewalls {
		for i := range rep.Firewalls {
			f := &rep.Firewalls[i]
			if d.RequireCapabilities != nil && strings.EqualFold(f.Name, d.Name) && (d.scope == "" || d.scope == f.Source) {
				f.RequireCapabilities = d.RequireCapabilities
			}
		}
	}
	rep.Datastores = append(rep.Datastores, decl.Datastores...)
	return ctx.Err()
}

// mergeKind appends to *have each record of decl that no record of *have
// (including those appended before it) matches by name (case-insensitively
// when fold) within the declaration's scope. id returns a record's source,
// name and scope.
func mergeKind[T any](ctx context.Context, have *[]T, decl []T, fold bool, id func(*T) (source, name, scope string)) error {
	if len(decl) == 0 {
		return nil
	}
	*have = slices.Grow(*have, len(decl))
	idx := newNameIndex(fold, len(*have)+len(decl))
	for i := range *have {
		if err := stopped(ctx, i); err != nil {
			return err
		}
		src, name, _ := id(&(*have)[i])
		idx.add(i, src, name)
	}
	for i := range decl {
		if err := stopped(ctx, i); err != nil {
			return err
		}
		src, name, scope := id(&decl[i])
		if _, ok := idx.find(name, scope); !ok {
			idx.add(len(*have), src, name)
			*have = append(*have, decl[i])
		}
	}
	return nil
}

// countVMs fills Host.VMCount from the VMs of the same source.
func countVMs(rep *Report) {
	type key struct{ src, host string }
	n := map[key]int{}
	for _, v := range rep.VMs {
		n[key{v.Source, v.Host}]++
	}
	for i := range rep.Hosts {
		h := &rep.Hosts[i]
		h.VMCount = n[key{h.Source, h.Name}]
	}
}
