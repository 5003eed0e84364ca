package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/opsteam/ops/internal/exitcode"
	"github.com/opsteam/ops/internal/metrics"
	"github.com/opsteam/ops/internal/schedule"
	"github.com/opsteam/ops/inventory"
)

func newInventoryCmd(a *app) *cobra.Command {
	var sources []string
	var format, kind, out, metricsFile string
	cmd := &cobra.Command{
		Use:   "inventory",
		Short: "Report hypervisor hosts, VMs and firewalls from vCenter, libvirt, nftables and a declared file",
		Long: `Collect hosts, VMs, datastores and firewalls from every configured source at
once (each with its own timeout), evaluate health findings, and print a table,
JSON, CSV (one --kind) or a self-contained HTML page. A source that fails is
reported in "sources" with its error and the others are still reported.

Exit status: 0 ok, 2 usage or config error, 3 a source failed (the report of
the others is still written).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := inventory.ParseFormat(format)
			if err != nil {
				return exitcode.UsageError(fmt.Errorf("--output: %w", err))
			}
			k, err := inventory.ParseKind(kind)
			if err != nil {
				return exitcode.UsageError(fmt.Errorf("--kind: %w", err))
			}
			start := time.Now()
			rep, collectErr := a.collectInventory(cmd.Context(), sources)
			if rep == nil {
				return collectErr
			}
			if err := writeOutput(a, out, func(buf *bytes.Buffer) error { return inventory.Render(buf, rep, f, k) }); err != nil {
				return err
			}
			if metricsFile != "" {
				a.recordRun(metricsFile, metrics.Run{Kind: metrics.KindInventory, Name: "inventory", Start: start, Err: collectErr,
					Result: metrics.Result{Inventory: inventoryMetrics(rep)}})
			}
			return collectErr
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&sources, "source", nil, "collect only this source (repeatable; default: every source)")
	fl.StringVarP(&format, "output", "o", "table", "output format: table, json, csv or html")
	fl.StringVar(&kind, "kind", "", "record kind for csv (default vm) or to narrow table/json: host, vm, firewall, finding, datastore, source")
	fl.StringVar(&out, "out", "", "write the report to FILE (atomically) instead of stdout")
	fl.StringVar(&metricsFile, "metrics-file", "", "write Prometheus metrics of this run to FILE (node_exporter textfile collector)")
	cmd.AddCommand(newInventoryDiffCmd(a), newInventoryCheckCmd(a))
	return cmd
}

// collectInventory runs the configured sources. The report is nil only when
// nothing could be started (bad config); otherwise the error says which
// sources failed (exit 3) and the report holds the others.
func (a *app) collectInventory(ctx context.Context, names []string) (*inventory.Report, error) {
	if len(a.cfg.Inventory.Sources) == 0 {
		return nil, exitcode.UsageError(errors.New("no inventory sources: configure inventory.sources"))
	}
	o, err := a.cfg.Inventory.Options(names...)
	if err != nil {
		return nil, exitcode.UsageError(err)
	}
	o.Logger = a.log
	rep, err := inventory.Collect(ctx, o)
	if err != nil {
		a.log.Warn("inventory incomplete", "error", err.Error())
	}
	return rep, err
}

func inventoryMetrics(r *inventory.Report) *metrics.Inventory {
	s := r.Summarize()
	m := &metrics.Inventory{Objects: map[string]int{}, Findings: map[string]int{}, Sources: map[string]bool{}}
	m.Objects["host"], m.Objects["vm"], m.Objects["firewall"] = len(r.Hosts), len(r.VMs), len(r.Firewalls)
	for _, f := range r.Findings {
		m.Findings[f.Severity]++
	}
	for _, src := range r.Sources {
		m.Sources[src.Name] = src.OK
	}
	_ = s
	return m
}

// writeOutput renders into memory, then writes stdout or FILE (temp file and
// rename, so a reader never sees half a report).
func writeOutput(a *app, path string, render func(*bytes.Buffer) error) error {
	var buf bytes.Buffer
	if err := render(&buf); err != nil {
		return err
	}
	if path == "" {
		_, err := a.stdout.Write(buf.Bytes())
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("--out: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	return nil
}

func newInventoryDiffCmd(a *app) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "diff OLD.json NEW.json",
		Short: "What was added, removed and changed (field by field) between two JSON reports (exit 1 when they differ)",
		Args:  cobra.ExactArgs(2),
		Annotations: map[string]string{
			noConfig: "true",
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "text" && format != "json" {
				return exitcode.UsageError(fmt.Errorf("invalid --output %q: expected text or json", format))
			}
			old, err := inventory.LoadReport(args[0])
			if err != nil {
				return exitcode.UsageError(err)
			}
			cur, err := inventory.LoadReport(args[1])
			if err != nil {
				return exitcode.UsageError(err)
			}
			d := inventory.Diff(old, cur)
			if format == "json" {
				err = d.WriteJSON(a.stdout)
			} else {
				err = d.WriteText(a.stdout)
			}
			if err != nil {
				return err
			}
			if d.Differ {
				return exitcode.Check(fmt.Errorf("%s and %s differ", args[0], args[1]))
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&format, "output", "o", "text", "output format: text or json")
	return cmd
}

func newInventoryCheckCmd(a *app) *cobra.Command {
	var declared []string
	var format string
	cmd := &cobra.Command{
		Use:   "check [--declared FILE]",
		Short: "Compare the declared inventory with what the sources discover (exit 1 on drift or violations)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "text" && format != "json" {
				return exitcode.UsageError(fmt.Errorf("invalid --output %q: expected text or json", format))
			}
			paths := declared
			if len(paths) == 0 {
				paths = a.cfg.Inventory.DeclaredPaths()
			}
			if len(paths) == 0 {
				return exitcode.UsageError(errors.New("nothing declared: give --declared FILE or configure a source of type file"))
			}
			rep, collectErr := a.collectInventory(cmd.Context(), nil)
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
				if format == "json" {
					err = res.WriteJSON(a.stdout)
				} else {
					err = res.WriteText(a.stdout)
				}
				if err != nil {
					return err
				}
				failed = failed || res.Failed()
			}
			if failed {
				return exitcode.Check(errors.New("the inventory does not match the declaration"))
			}
			return collectErr
		},
	}
	cmd.Flags().StringArrayVar(&declared, "declared", nil, "declared inventory (YAML; default: the paths of the file sources)")
	cmd.Flags().StringVarP(&format, "output", "o", "text", "output format: text or json")
	return cmd
}

// inventoryJobs is the scheduled inventory report for `ops serve`.
func (a *app) inventoryJobs() []schedule.Job {
	ic := a.cfg.Inventory
	if len(ic.Sources) == 0 || ic.Schedule == "" {
		return nil
	}
	return []schedule.Job{{
		Kind: metrics.KindInventory, Name: "inventory", Schedule: ic.Schedule,
		Run: func(ctx context.Context) (metrics.Result, error) {
			rep, collectErr := a.collectInventory(ctx, nil)
			if rep == nil {
				return metrics.Result{}, collectErr
			}
			res := metrics.Result{Inventory: inventoryMetrics(rep)}
			if ic.Report.Path != "" {
				f, err := inventory.ParseFormat(ic.Report.Format)
				if err != nil {
					return res, err
				}
				if err := writeOutput(a, ic.Report.Path, func(buf *bytes.Buffer) error { return inventory.Render(buf, rep, f, "") }); err != nil {
					return res, err
				}
			}
			return res, collectErr
		},
	}}
}
