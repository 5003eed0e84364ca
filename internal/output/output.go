package output

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Formats a command accepts with --output.
const (
	Table = "table"
	JSON  = "json"
)

// CheckFormat validates an --output value against the accepted ones.
func CheckFormat(got string, accepted ...string) error {
	for _, a := range accepted {
		if got == a {
			return nil
		}
	}
	return fmt.Errorf("invalid --output %q: expected %s", got, strings.Join(accepted, " or "))
}

// WriteJSON writes v as indented JSON followed by a newline.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// WriteTable writes a header row and rows aligned in columns, every cell
// through Escape (see Table).
func WriteTable(w io.Writer, header []string, rows [][]string) error {
	t := NewTableWriter(w)
	t.Row(header...)
	for _, r := range rows {
		t.Row(r...)
	}
	return t.Flush()
}

// TableWriter writes rows of cells aligned in columns, two spaces apart. Every
// cell goes through Escape: a cell can neither act on the terminal nor
// start a line or a column of its own (a newline or a tab in a name shows
// as \n or \t). A row of one cell is a line outside the columns (a title),
// an empty row a blank line.
type TableWriter struct {
	tw *tabwriter.Writer
}

// NewTableWriter returns a TableWriter writing to w; call Flush at the end.
func NewTableWriter(w io.Writer) *TableWriter {
	return &TableWriter{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
}

// Row writes one row.
func (t *TableWriter) Row(cells ...string) {
	for i, c := range cells {
		if i > 0 {
			io.WriteString(t.tw, "\t")
		}
		io.WriteString(t.tw, Escape(c))
	}
	io.WriteString(t.tw, "\n")
}

// Flush writes what is buffered; it returns the first write error.
func (t *TableWriter) Flush() error { return t.tw.Flush() }
