package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/opsteam/ops/internal/exitcode"
	"github.com/opsteam/ops/internal/metrics"
	"github.com/opsteam/ops/internal/output"
)

// outputFlag is the --output/-o flag of every command that prints a result,
// in govc's composable-flag spirit: a command embeds one in its options with
// the formats it accepts (the first is the default), checks it first, and
// prints through write.
type outputFlag struct {
	format  string
	allowed []string
}

func newOutputFlag(allowed ...string) outputFlag { return outputFlag{allowed: allowed} }

func (o *outputFlag) register(fs *pflag.FlagSet) {
	fs.StringVarP(&o.format, "output", "o", o.allowed[0], "output `format`: "+orList(o.allowed))
}

// check rejects a format the command does not accept (a usage error).
func (o *outputFlag) check() error {
	if slices.Contains(o.allowed, o.format) {
		return nil
	}
	return exitcode.UsageError(fmt.Errorf("invalid --output %q: expected %s", o.format, orList(o.allowed)))
}

// json reports whether --output json was asked for.
func (o *outputFlag) json() bool { return o.format == output.JSON }

// write prints a result to w: with --output json through asJSON, else
// (table or text) through asTable.
func (o *outputFlag) write(w io.Writer, asJSON, asTable func(io.Writer) error) error {
	if o.json() {
		return asJSON(w)
	}
	return asTable(w)
}

// jsonOf is the asJSON of a value with no JSON writer of its own.
func jsonOf(v any) func(io.Writer) error {
	return func(w io.Writer) error { return output.WriteJSON(w, v) }
}

// orList spells a list of choices: "a", "a or b", "a, b or c".
func orList(items []string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}

// metricsFileFlag is --metrics-file of the one-shot commands that can
// record their run for node_exporter's textfile collector.
type metricsFileFlag struct {
	path string
}

func (m *metricsFileFlag) register(fs *pflag.FlagSet) {
	fs.StringVar(&m.path, "metrics-file", "", "write Prometheus metrics of this run to `FILE` (node_exporter textfile collector)")
}

// record writes one run's metrics to the file when the flag is set; a
// failure to write is logged, never turned into the command's exit status.
func (m *metricsFileFlag) record(rt *opsRuntime, r metrics.Run) {
	if m.path == "" {
		return
	}
	if r.End.IsZero() {
		r.End = time.Now()
	}
	r.Code = exitCode(r.Err)
	set := metrics.New()
	set.Record(r)
	if err := metrics.WriteTextfile(m.path, set.Registry()); err != nil {
		rt.log.Error("writing the metrics file failed", "path", m.path, "error", err.Error())
	}
}
