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

// WriteTable writes a header row and rows aligned in columns.
func WriteTable(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}
