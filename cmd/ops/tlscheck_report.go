package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/opsteam/ops/internal/exitcode"
	"github.com/opsteam/ops/internal/output"
	"github.com/opsteam/ops/tlscheck/tlsrpt"
)

type tlsReportOptions struct {
	output outputFlag
}

func newTLSReportCmd(c *cli) *cobra.Command {
	opts := tlsReportOptions{output: newOutputFlag(output.Table, output.JSON)}
	cmd := &cobra.Command{
		Use:   "report FILE...",
		Short: "Sum RFC 8460 TLSRPT reports (.json, .json.gz or an e-mail): sessions per policy, failures per result type, MX and sending IP",
		Long: `Read SMTP TLS reports (RFC 8460) as senders mail them: JSON, gzip'd JSON or the
e-mail itself (an application/tlsrpt+gzip or +json part, or a .json.gz
attachment); a directory stands for the files in it. Sessions are summed per
(policy domain, policy type), failures per result type, receiving MX and
sending IP; a report met twice (same organization and report-id) counts once.

Exit status: 0 read, 2 a FILE that is not a readable report (named, with why).`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTLSReport(cmd.Context(), c.rt, opts, args)
		},
	}
	opts.output.register(cmd.Flags())
	return cmd
}

func runTLSReport(_ context.Context, rt *opsRuntime, opts tlsReportOptions, args []string) error {
	if err := opts.output.check(); err != nil {
		return err
	}
	files, err := reportFiles(args)
	if err != nil {
		return exitcode.UsageError(err)
	}
	var reports []*tlsrpt.Report
	for _, f := range files {
		rs, err := tlsrpt.ReadFile(f)
		if err != nil {
			return exitcode.UsageError(err)
		}
		reports = append(reports, rs...)
	}
	s := tlsrpt.Sum(reports)
	return opts.output.write(rt.stdout,
		func(w io.Writer) error { return tlsrpt.WriteJSON(w, s) },
		func(w io.Writer) error { return tlsrpt.WriteTable(w, s) })
}

// reportFiles expands directories into their regular files and links to
// regular files (not hidden ones, not recursively), in name order.
func reportFiles(args []string) ([]string, error) {
	var files []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			files = append(files, a)
			continue
		}
		ents, err := os.ReadDir(a)
		if err != nil {
			return nil, err
		}
		var names []string
		for _, e := range ents {
			p := filepath.Join(a, e.Name())
			if strings.HasPrefix(e.Name(), ".") {
				continue
			}
			if e.Type()&os.ModeSymlink != 0 { // a link to a report counts, a link to a directory not
				if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
					continue
				}
			} else if !e.Type().IsRegular() {
				continue
			}
			names = append(names, p)
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("%s: %w", a, errNoReports)
		}
		sort.Strings(names)
		files = append(files, names...)
	}
	return files, nil
}

var errNoReports = errors.New("directory without report files")
