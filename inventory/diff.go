package inventory

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strings"

	"github.com/opsteam/ops/internal/output"
)

// ObjectRef names one record.
type ObjectRef struct {
	Kind   string `json:"kind"` // host | vm | datastore | firewall | finding | source
	Source string `json:"source"`
	Name   string `json:"name"`
}

func (o ObjectRef) String() string { return o.Kind + " " + o.Source + "/" + o.Name }

// FieldChange is one changed field; Old and New are JSON values (nil when
// the field did not exist on that side).
type FieldChange struct {
	Field string `json:"field"`
	Old   any    `json:"old"`
	New   any    `json:"new"`
}

// Change is a record present on both sides with different fields.
type Change struct {
	ObjectRef
	Fields []FieldChange `json:"fields"`
}

// DiffResult is the difference between two reports.
type DiffResult struct {
	Differ  bool        `json:"differ"`
	Added   []ObjectRef `json:"added"`
	Removed []ObjectRef `json:"removed"`
	Changed []Change    `json:"changed"`
}

// LoadReport reads a report written with --output json, or a snapshot of
// the history (the same JSON, gzip-compressed).
func LoadReport(path string) (*Report, error) { return loadReport(path, false) }

// loadReport reads a report; strict requires the schema field (a snapshot
// always has it: a JSON file without it is not one).
func loadReport(path string, strict bool) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b, err = decompress(b)
	if err != nil {
		return nil, fmt.Errorf("%s: not an inventory JSON report: gzip: %w", path, err)
	}
	if len(b) > maxReportBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes uncompressed: not an inventory report", path, maxReportBytes)
	}
	var r Report
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%s: not an inventory JSON report: %w", path, err)
	}
	if strict && r.Schema == "" {
		return nil, fmt.Errorf("%s: not an inventory report: no schema field", path)
	}
	if r.Schema != "" && r.Schema != Schema {
		return nil, fmt.Errorf("%s: schema %q: expected %q", path, r.Schema, Schema)
	}
	r.Normalize()
	return &r, nil
}

// Diff compares two reports record by record (keyed by kind, source and
// name) and field by field. Volatile values are ignored: collected_at,
// source durations and finding messages (they count days); a finding is
// keyed by check, source and object.
func Diff(old, new *Report) DiffResult {
	d := DiffResult{Added: []ObjectRef{}, Removed: []ObjectRef{}, Changed: []Change{}}
	a, b := indexReport(old), indexReport(new)
	for k, ov := range a {
		nv, ok := b[k]
		if !ok {
			d.Removed = append(d.Removed, k)
			continue
		}
		if fc := diffFields(ov, nv); len(fc) > 0 {
			d.Changed = append(d.Changed, Change{ObjectRef: k, Fields: fc})
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			d.Added = append(d.Added, k)
		}
	}
	sortRefs(d.Added)
	sortRefs(d.Removed)
	slices.SortFunc(d.Changed, func(x, y Change) int { return cmpRef(x.ObjectRef, y.ObjectRef) })
	d.Differ = len(d.Added)+len(d.Removed)+len(d.Changed) > 0
	return d
}

var kindOrder = map[string]int{"source": 0, "host": 1, "vm": 2, "datastore": 3, "firewall": 4, "finding": 5}

func cmpRef(x, y ObjectRef) int {
	return cmp.Or(cmp.Compare(kindOrder[x.Kind], kindOrder[y.Kind]), cmp.Compare(x.Source, y.Source), cmp.Compare(x.Name, y.Name))
}

func sortRefs(r []ObjectRef) { slices.SortFunc(r, cmpRef) }

// indexReport flattens every record into field path → JSON value.
func indexReport(r *Report) map[ObjectRef]map[string]any {
	out := map[ObjectRef]map[string]any{}
	put := func(kind, source, name string, v any, drop ...string) {
		k := ObjectRef{Kind: kind, Source: source, Name: name}
		for i := 2; ; i++ {
			if _, dup := out[k]; !dup {
				break
			}
			k.Name = fmt.Sprintf("%s#%d", name, i)
		}
		m := map[string]any{}
		flatten("", toJSONValue(v), m)
		for _, f := range append(drop, "source", "name") {
			delete(m, f)
		}
		out[k] = m
	}
	for _, s := range r.Sources {
		put("source", s.Name, s.Name, s, "duration_ms")
	}
	for _, h := range r.Hosts {
		put("host", h.Source, h.Name, h)
	}
	for _, v := range r.VMs {
		put("vm", v.Source, v.Name, v)
	}
	for _, x := range r.Datastores {
		put("datastore", x.Source, x.Name, x)
	}
	for _, f := range r.Firewalls {
		put("firewall", f.Source, f.Name, f)
	}
	for _, f := range r.Findings {
		put("finding", f.Source, f.Check+" "+f.Kind+" "+f.Object, f, "message", "object", "check", "kind")
	}
	return out
}

func toJSONValue(v any) any {
	b, _ := json.Marshal(v)
	var x any
	_ = json.Unmarshal(b, &x)
	return x
}

// flatten turns nested objects into dotted paths. Lists of objects with a
// name are keyed by it (tables[inet filter].chains[input].rules); lists of
// scalars stay whole values.
func flatten(prefix string, v any, out map[string]any) {
	join := func(k string) string {
		if prefix == "" {
			return k
		}
		return prefix + "." + k
	}
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			flatten(join(k), e, out)
		}
	case []any:
		objects := len(x) > 0
		for _, e := range x {
			if m, ok := e.(map[string]any); !ok || m["name"] == nil {
				objects = false
			}
		}
		if !objects {
			out[prefix] = v
			return
		}
		for _, e := range x {
			m := e.(map[string]any)
			key := fmt.Sprint(m["name"])
			if f, ok := m["family"]; ok {
				key = fmt.Sprint(f) + " " + key
			}
			sub := map[string]any{}
			for k, val := range m {
				if k != "name" && k != "family" {
					sub[k] = val
				}
			}
			p := prefix + "[" + key + "]"
			if len(sub) == 0 {
				out[p] = true
			}
			flatten(p, sub, out)
		}
	default:
		out[prefix] = v
	}
}

func diffFields(a, b map[string]any) []FieldChange {
	var fc []FieldChange
	for k, av := range a {
		bv, ok := b[k]
		if !ok || !reflect.DeepEqual(av, bv) {
			fc = append(fc, FieldChange{Field: k, Old: av, New: bv})
		}
	}
	for k, bv := range b {
		if _, ok := a[k]; !ok {
			fc = append(fc, FieldChange{Field: k, Old: nil, New: bv})
		}
	}
	slices.SortFunc(fc, func(x, y FieldChange) int { return cmp.Compare(x.Field, y.Field) })
	return fc
}

// WriteText prints the diff for people: "+ added", "- removed", "~ changed"
// with one line per field. Names are escaped (output.Escape) and values are
// JSON text: nothing a source reported can act on the terminal or forge a
// line.
func (d DiffResult) WriteText(w io.Writer) error {
	var b strings.Builder
	e := output.Escape
	for _, a := range d.Added {
		fmt.Fprintf(&b, "+ %s %s/%s\n", e(a.Kind), e(a.Source), e(a.Name))
	}
	for _, r := range d.Removed {
		fmt.Fprintf(&b, "- %s %s/%s\n", e(r.Kind), e(r.Source), e(r.Name))
	}
	for _, c := range d.Changed {
		fmt.Fprintf(&b, "~ %s %s/%s\n", e(c.Kind), e(c.Source), e(c.Name))
		for _, f := range c.Fields {
			fmt.Fprintf(&b, "    %s: %s → %s\n", e(f.Field), jsonText(f.Old), jsonText(f.New))
		}
	}
	if !d.Differ {
		b.WriteString("no differences\n")
	} else {
		fmt.Fprintf(&b, "%d added, %d removed, %d changed\n", len(d.Added), len(d.Removed), len(d.Changed))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON prints the diff as indented JSON.
func (d DiffResult) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(d)
}

func jsonText(v any) string {
	if v == nil {
		return "(none)"
	}
	b, _ := json.Marshal(v)
	return output.SafeJSON(strings.TrimSpace(string(b)))
}
