package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/opsteam/ops/internal/exitcode"
	"github.com/opsteam/ops/internal/metrics"
	"github.com/opsteam/ops/internal/output"
	"github.com/opsteam/ops/internal/schedule"
	"github.com/opsteam/ops/inventory"
)

type inventoryOptions struct {
	sources     []string
	output      outputFlag
	kind, out   string
	failOn      string
	metricsFile metricsFileFlag
}

func newInventoryCmd(c *cli) *cobra.Command {
	opts := inventoryOptions{output: newOutputFlag(inventoryFormats()...)}
	cmd := &cobra.Command{
		Use:   "inventory",
		Short: "Report hypervisor hosts, VMs and firewalls from vCenter, libvirt, nftables and a declared file",
		Long: `Collect hosts, VMs, datastores and firewalls from every configured source at
once (each with its own timeout), evaluate health findings, and print a table,
JSON, CSV (one --kind) or a self-contained HTML page. A source that fails is
reported in "sources" with its error and the others are still reported.

Exit status: 0 ok, 1 a finding at or above --fail-on, 2 usage or config
error, 3 a source failed (the report of the others is still written).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runInventory(cmd.Context(), c.rt, opts)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&opts.sources, "source", nil, "collect only the source `NAME` (repeatable; default: every source)")
	opts.output.register(fl)
	fl.StringVar(&opts.kind, "kind", "", "record `kind` for csv (default vm) or to narrow table/json: host, vm, firewall, finding, datastore, source")
	fl.StringVar(&opts.out, "report-file", "", "write the report to `FILE` (atomically) instead of stdout; --output is its format")
	// --out was the first name of --report-file; it was too easily confused
	// with -o/--output (the format). It still works, unlisted.
	fl.StringVar(&opts.out, "out", "", "old name of --report-file")
	_ = fl.MarkHidden("out")
	fl.StringVar(&opts.failOn, "fail-on", "", "exit 1 when a finding of this `severity` or worse exists: error or warning")
	opts.metricsFile.register(fl)
	cmd.AddCommand(newInventoryDiffCmd(c), newInventoryCheckCmd(c), newInventoryHistoryCmd(c))
	return cmd
}

func runInventory(ctx context.Context, rt *opsRuntime, opts inventoryOptions) error {
	if err := opts.output.check(); err != nil {
		return err
	}
	f := inventory.Format(opts.output.format)
	k, err := inventory.ParseKind(opts.kind)
	if err != nil {
		return exitcode.UsageError(fmt.Errorf("--kind: %w", err))
	}
	if opts.failOn != "" && opts.failOn != inventory.SeverityError && opts.failOn != inventory.SeverityWarning {
		return exitcode.UsageError(fmt.Errorf("invalid --fail-on %q: expected error or warning", opts.failOn))
	}
	start := time.Now()
	rep, collectErr := rt.collectInventory(ctx, opts.sources)
	if rep == nil {
		return collectErr
	}
	hv := rt.historyView(f)
	if err := writeOutput(rt.stdout, opts.out, func(buf *bytes.Buffer) error { return inventory.RenderHistory(buf, rep, f, k, hv) }); err != nil {
		return err
	}
	if err := rt.saveHistory(rep); err != nil && collectErr == nil {
		collectErr = err
	}
	if collectErr == nil {
		collectErr = failOn(rep, opts.failOn)
	}
	opts.metricsFile.record(rt, metrics.Run{Kind: metrics.KindInventory, Name: "inventory", Start: start, Err: collectErr,
		Result: metrics.Result{Inventory: inventoryMetrics(rep)}})
	return collectErr
}

// failOn is the --fail-on check: a check failure (exit 1) naming the
// findings at or above the severity. A failed source (exit 3) goes first.
func failOn(rep *inventory.Report, level string) error {
	if level == "" {
		return nil
	}
	var hits []error
	for _, f := range rep.Findings {
		if f.Severity == inventory.SeverityError || (level == inventory.SeverityWarning && f.Severity == inventory.SeverityWarning) {
			hits = append(hits, fmt.Errorf("%s %s %s: %s", strings.ToUpper(f.Severity), f.Kind, f.Object, f.Message))
		}
	}
	if len(hits) == 0 {
		return nil
	}
	return exitcode.Check(fmt.Errorf("--fail-on %s: %d finding(s): %w", level, len(hits), errors.Join(hits...)))
}

// collectInventory runs the configured sources. The report is nil only when
// nothing could be started (bad config); otherwise the error says which
// sources failed (exit 3) and the report holds the others.
func (rt *opsRuntime) collectInventory(ctx context.Context, names []string) (*inventory.Report, error) {
	if len(rt.cfg.Inventory.Sources) == 0 {
		return nil, exitcode.UsageError(errors.New("no inventory sources: configure inventory.sources"))
	}
	o, err := rt.cfg.Inventory.Options(names...)
	if err != nil {
		return nil, exitcode.UsageError(err)
	}
	o.Logger = rt.log
	// A failed source is not logged here: the error is returned and printed
	// once (by run, or by the scheduler of ops serve).
	return inventory.Collect(ctx, o)
}

func inventoryMetrics(r *inventory.Report) *metrics.Inventory {
	m := &metrics.Inventory{Objects: map[string]int{}, Findings: map[string]int{}, Sources: map[string]bool{},
		Hosts: map[string]int{}, VMs: map[string]int{}}
	m.Objects["host"], m.Objects["vm"], m.Objects["firewall"] = len(r.Hosts), len(r.VMs), len(r.Firewalls)
	// every state of the vocabulary has a series, 0 included, so that an
	// alert on "disconnected > 0" has something to compare from the start
	for _, k := range []string{inventory.SeverityError, inventory.SeverityWarning, inventory.SeverityInfo} {
		m.Findings[k] = 0
	}
	for _, k := range []string{inventory.ConnConnected, inventory.ConnDisconnected, inventory.ConnNotResponding} {
		m.Hosts[k] = 0
	}
	for _, k := range []string{inventory.PowerOn, inventory.PowerOff, inventory.PowerSuspended} {
		m.VMs[k] = 0
	}
	for _, f := range r.Findings {
		m.Findings[f.Severity]++
	}
	for _, h := range r.Hosts {
		if h.Connection != "" {
			m.Hosts[h.Connection]++
		}
	}
	for _, v := range r.VMs {
		if v.Power != "" {
			m.VMs[v.Power]++
		}
		if at, err := time.Parse(time.RFC3339, v.SnapshotOldest); err == nil && (m.SnapshotOldest.IsZero() || at.Before(m.SnapshotOldest)) {
			m.SnapshotOldest = at
		}
	}
	for _, src := range r.Sources {
		m.Sources[src.Name] = src.OK
	}
	return m
}

// writeOutput renders into memory, then writes stdout or FILE (temp file and
// rename, so a reader never sees half a report).
func writeOutput(stdout io.Writer, path string, render func(*bytes.Buffer) error) error {
	var buf bytes.Buffer
	if err := render(&buf); err != nil {
		return err
	}
	if path == "" {
		_, err := stdout.Write(buf.Bytes())
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("--report-file %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("--report-file %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("--report-file %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("--report-file %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("--report-file %s: %w", path, err)
	}
	return nil
}

type inventoryDiffOptions struct {
	output outputFlag
	since  time.Duration
}

func newInventoryDiffCmd(c *cli) *cobra.Command {
	opts := inventoryDiffOptions{output: newOutputFlag("text", output.JSON)}
	cmd := &cobra.Command{
		Use:   "diff OLD.json NEW.json | --since DURATION",
		Short: "What was added, removed and changed (field by field) between two JSON reports (exit 1 when they differ)",
		Long: `Compare two JSON reports (or kept snapshots, .json.gz) record by record and field
by field. With --since DURATION, compare the oldest snapshot of
inventory.history collected within that window with a fresh run of the sources.

Exit status: 0 no difference, 1 they differ, 2 usage error (no snapshot in the
window, unreadable file), 3 a source of the fresh run failed.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("since") {
				if len(args) != 0 {
					return exitcode.UsageError(errors.New("give either --since DURATION or OLD NEW, not both"))
				}
				return nil
			}
			if len(args) != 2 {
				return exitcode.UsageError(fmt.Errorf("expected OLD.json NEW.json or --since DURATION, got %d argument(s)", len(args)))
			}
			return nil
		},
		Annotations: map[string]string{
			noConfig: "true", // --since loads it (RunE): OLD NEW needs none
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("since") {
				rt, err := c.load(cmd)
				if err != nil {
					return err
				}
				c.rt = rt
				return runInventoryDiffSince(cmd.Context(), c.rt, opts)
			}
			return runInventoryDiff(cmd.Context(), c.rt, opts, args[0], args[1])
		},
	}
	opts.output.register(cmd.Flags())
	cmd.Flags().DurationVar(&opts.since, "since", 0, "compare the oldest kept snapshot within this `DURATION` (e.g. 24h) with a fresh run")
	return cmd
}

func runInventoryDiff(_ context.Context, rt *opsRuntime, opts inventoryDiffOptions, oldPath, newPath string) error {
	if err := opts.output.check(); err != nil {
		return err
	}
	old, err := inventory.LoadReport(oldPath)
	if err != nil {
		return exitcode.UsageError(err)
	}
	cur, err := inventory.LoadReport(newPath)
	if err != nil {
		return exitcode.UsageError(err)
	}
	d := inventory.Diff(old, cur)
	err = opts.output.write(rt.stdout, d.WriteJSON, d.WriteText)
	if err != nil {
		return err
	}
	if d.Differ {
		return exitcode.Check(fmt.Errorf("%s and %s differ", oldPath, newPath))
	}
	return nil
}

type inventoryCheckOptions struct {
	declared []string
	output   outputFlag
}

func newInventoryCheckCmd(c *cli) *cobra.Command {
	opts := inventoryCheckOptions{output: newOutputFlag("text", output.JSON)}
	cmd := &cobra.Command{
		Use:   "check [--declared FILE]",
		Short: "Compare the declared inventory with what the sources discover (exit 1 on drift or violations)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runInventoryCheck(cmd.Context(), c.rt, opts)
		},
	}
	cmd.Flags().StringArrayVar(&opts.declared, "declared", nil, "declared inventory `FILE` (YAML; default: the paths of the file sources)")
	opts.output.register(cmd.Flags())
	return cmd
}

func runInventoryCheck(ctx context.Context, rt *opsRuntime, opts inventoryCheckOptions) error {
	if err := opts.output.check(); err != nil {
		return err
	}
	paths := opts.declared
	if len(paths) == 0 {
		paths = rt.cfg.Inventory.DeclaredPaths()
	}
	if len(paths) == 0 {
		return exitcode.UsageError(errors.New("nothing declared: give --declared FILE or configure a source of type file"))
	}
	rep, collectErr := rt.collectInventory(ctx, nil)
	if rep == nil {
		return collectErr
	}
	failed := false
	for _, p := range paths {
		d, err := inventory.LoadDeclared(p)
		if err != nil {
			return exitcode.UsageError(err)
		}
		res := inventory.Check(d, rep)
		err = opts.output.write(rt.stdout, res.WriteJSON, res.WriteText)
		if err != nil {
			return err
		}
		failed = failed || res.Failed()
	}
	if failed {
		return exitcode.Check(errors.New("the inventory does not match the declaration"))
	}
	return collectErr
}

// inventoryJobs is the scheduled inventory report for `ops serve`.
func (rt *opsRuntime) inventoryJobs() []schedule.Job {
	ic := rt.cfg.Inventory
	if len(ic.Sources) == 0 || ic.Schedule == "" {
		return nil
	}
	return []schedule.Job{{
		Kind: metrics.KindInventory, Name: "inventory", Schedule: ic.Schedule, Timeout: scheduledInventoryTimeout,
		Run: func(ctx context.Context) (metrics.Result, error) {
			rep, collectErr := rt.collectInventory(ctx, nil)
			if rep == nil {
				return metrics.Result{}, collectErr
			}
			res := metrics.Result{Inventory: inventoryMetrics(rep)}
			if ic.Report.Path != "" {
				f, err := inventory.ParseFormat(ic.Report.Format)
				if err != nil {
					return res, err
				}
				hv := rt.historyView(f) // before this run is kept: the previous snapshot
				if err := writeOutput(rt.stdout, ic.Report.Path, func(buf *bytes.Buffer) error { return inventory.RenderHistory(buf, rep, f, "", hv) }); err != nil {
					return res, err
				}
			}
			if err := rt.saveHistory(rep); err != nil && collectErr == nil {
				collectErr = err
			}
			return res, collectErr
		},
	}}
}

// inventoryFormats are the --output formats of `ops inventory`, the default
// (table) first.
func inventoryFormats() []string {
	out := make([]string, len(inventory.Formats))
	for i, f := range inventory.Formats {
		out[i] = string(f)
	}
	return out
}
