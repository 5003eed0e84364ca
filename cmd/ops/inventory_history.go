package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/opsteam/ops/internal/bytesize"
	"github.com/opsteam/ops/internal/exitcode"
	"github.com/opsteam/ops/internal/output"
	"github.com/opsteam/ops/inventory"
)

// saveHistory keeps a snapshot of the report when inventory.history.dir is
// set. A failure to write it is a runtime failure (exit 3): the history is
// what `diff --since` and the page's trend rely on.
func (rt *opsRuntime) saveHistory(rep *inventory.Report) error {
	h, ok := rt.cfg.Inventory.HistoryStore()
	if !ok {
		return nil
	}
	path, err := h.Save(rep)
	if err != nil {
		return err
	}
	rt.log.Debug("inventory snapshot kept", "file", path)
	return nil
}

// historyView is what the HTML page shows of the history (the previous
// snapshot, the trend), read before this run's snapshot is saved. Nil
// without a history or for another format; an unreadable history directory
// is logged, not fatal: the report still goes out.
func (rt *opsRuntime) historyView(f inventory.Format) *inventory.HistoryView {
	h, ok := rt.cfg.Inventory.HistoryStore()
	if !ok || f != inventory.FormatHTML {
		return nil
	}
	snaps, err := h.List()
	if err != nil {
		rt.log.Warn("inventory history unreadable: the page has no trend", "err", err)
		return nil
	}
	return inventory.NewHistoryView(snaps)
}

type inventoryHistoryOptions struct {
	output outputFlag
}

func newInventoryHistoryCmd(c *cli) *cobra.Command {
	opts := inventoryHistoryOptions{output: newOutputFlag(output.Table, output.JSON)}
	cmd := &cobra.Command{
		Use:   "history",
		Short: "List the kept inventory snapshots (inventory.history), newest first",
		Long: `List the snapshots kept in inventory.history.dir, newest first: when each was
collected, its hosts, VMs (on/off) and findings. A file of the directory that is
not a readable snapshot is listed with its error (and named on stderr); the
listing still goes on.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runInventoryHistory(cmd.Context(), c.rt, opts)
		},
	}
	opts.output.register(cmd.Flags())
	return cmd
}

func runInventoryHistory(_ context.Context, rt *opsRuntime, opts inventoryHistoryOptions) error {
	if err := opts.output.check(); err != nil {
		return err
	}
	h, ok := rt.cfg.Inventory.HistoryStore()
	if !ok {
		return exitcode.UsageError(errors.New("no inventory history: set inventory.history.dir"))
	}
	snaps, err := h.List()
	if err != nil {
		return err
	}
	for _, s := range snaps {
		if s.Error != "" {
			rt.log.Warn("not a readable inventory snapshot", "file", s.File, "err", s.Error)
		}
	}
	return opts.output.write(rt.stdout, jsonOf(snaps), func(w io.Writer) error { return historyTable(w, snaps) })
}

func historyTable(w io.Writer, snaps []inventory.Snapshot) error {
	t := output.NewTableWriter(w)
	t.Row("COLLECTED", "HOSTS", "VMS", "ON", "OFF", "ERRORS", "WARNINGS", "SOURCES", "SIZE", "FILE")
	for _, s := range snaps {
		if s.Error != "" {
			t.Row("?", "", "", "", "", "", "", "", bytesize.Human(s.Bytes), s.File+": "+s.Error)
			continue
		}
		src := "ok"
		if !s.SourcesOK {
			src = "failed"
		}
		n := strconv.Itoa
		t.Row(s.CollectedAt.UTC().Format(time.RFC3339), n(s.Hosts), n(s.VMs), n(s.VMsOn), n(s.VMsOff),
			n(s.Errors), n(s.Warnings), src, bytesize.Human(s.Bytes), s.File)
	}
	if len(snaps) == 0 {
		t.Row("no snapshots kept yet")
	}
	return t.Flush()
}

// runInventoryDiffSince compares the oldest kept snapshot collected within
// the window with a fresh run (not kept: a diff is a question, not a run).
func runInventoryDiffSince(ctx context.Context, rt *opsRuntime, opts inventoryDiffOptions) error {
	if err := opts.output.check(); err != nil {
		return err
	}
	if opts.since <= 0 {
		return exitcode.UsageError(fmt.Errorf("invalid --since %s: expected a positive duration such as 24h", opts.since))
	}
	h, ok := rt.cfg.Inventory.HistoryStore()
	if !ok {
		return exitcode.UsageError(errors.New("--since needs the inventory history: set inventory.history.dir"))
	}
	snaps, err := h.List()
	if err != nil {
		return err
	}
	for _, s := range snaps {
		if s.Error != "" {
			rt.log.Warn("not a readable inventory snapshot, skipped", "file", s.File, "err", s.Error)
		}
	}
	now := time.Now()
	old, ok := inventory.Since(snaps, now.Add(-opts.since))
	if !ok {
		return exitcode.UsageError(fmt.Errorf("no snapshot kept in %s within the last %s (ops inventory history lists them)", h.Dir, opts.since))
	}
	cur, collectErr := rt.collectInventory(ctx, nil)
	if cur == nil {
		return collectErr
	}
	d := inventory.Diff(old.Report(), cur)
	if err := opts.output.write(rt.stdout, d.WriteJSON, d.WriteText); err != nil {
		return err
	}
	if collectErr != nil {
		return collectErr
	}
	if d.Differ {
		return exitcode.Check(fmt.Errorf("the inventory differs from the snapshot of %s (%s)", old.CollectedAt.UTC().Format(time.RFC3339), old.File))
	}
	return nil
}
