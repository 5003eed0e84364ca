package inventory

import (
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/opsteam/ops/internal/output"
)

// Drift is one difference between declared and discovered state.
type Drift struct {
	ObjectRef
	Line    int           `json:"line"`    // line in the declared file (0 for unexpected objects)
	Problem string        `json:"problem"` // missing | unexpected | changed
	Note    string        `json:"note"`
	Fields  []FieldChange `json:"fields"` // changed: Old = declared, New = discovered
}

// CheckResult compares a declaration with a discovered report.
type CheckResult struct {
	Declared string  `json:"declared"` // file
	Drift    []Drift `json:"drift"`
	// Violations are the report's error findings (capability missing,
	// host disconnected, VM declared on but off, licence expired...).
	Violations []Finding `json:"violations"`
	// Warnings are the other findings; they do not fail the check.
	Warnings []Finding `json:"warnings"`
	// Unverified lists declared objects whose expected source failed.
	Unverified []ObjectRef `json:"unverified"`
}

// Failed reports whether the caller should exit 1.
func (c CheckResult) Failed() bool { return len(c.Drift) > 0 || len(c.Violations) > 0 }

// discoveredIndexes indexes by name the discovered records of the
// discovering sources (not those merged from a declaration): one lookup per
// declared record.
func discoveredIndexes(discovered *Report, discovering map[string]bool) (hosts, vms, fws *nameIndex) {
	hosts, vms, fws = newNameIndex(true, len(discovered.Hosts)), newNameIndex(false, len(discovered.VMs)), newNameIndex(true, len(discovered.Firewalls))
	for i, x := range discovered.Hosts {
		if discovering[x.Source] {
			hosts.add(i, x.Source, x.Name)
		}
	}
	for i, x := range discovered.VMs {
		if discovering[x.Source] {
			vms.add(i, x.Source, x.Name)
		}
	}
	for i, x := range discovered.Firewalls {
		if discovering[x.Source] {
			fws.add(i, x.Source, x.Name)
		}
	}
	return hosts, vms, fws
}

// splitFindings appends the errors among fs to violations and the rest to
// warnings.
func splitFindings(fs []Finding, violations, warnings []Finding) ([]Finding, []Finding) {
	for _, f := range fs {
		if f.Severity == SeverityError {
			violations = append(violations, f)
		} else {
			warnings = append(warnings, f)
		}
	}
	return violations, warnings
}

// Check compares declared with discovered state:
//
//   - a declared object naming a source (source: vc) must be discovered by
//     it: otherwise drift "missing";
//   - a declared object without a source is looked up by name in every
//     discovering source; when found it is compared, when not found it is
//     taken as undiscoverable (a Hyper-V host, an appliance) and not drift;
//   - every field the declaration sets must match: drift "changed";
//   - a source named by some declaration is fully declared: what it
//     discovers beyond the declaration is drift "unexpected";
//   - error findings of the report are violations.
func Check(declared *Declared, discovered *Report) CheckResult {
	res := CheckResult{Declared: declared.Path, Drift: []Drift{}, Violations: []Finding{}, Warnings: []Finding{}, Unverified: []ObjectRef{}}
	srcOK := map[string]bool{}
	discovering := map[string]bool{}
	for _, s := range discovered.Sources {
		if s.Type != TypeFile {
			discovering[s.Name] = true
			srcOK[s.Name] = s.OK
		}
	}
	managed := map[string]bool{}
	// matched: the discovered records some declaration matched, by kind and
	// position (a name would mix up VMs whose names differ only in case).
	type key struct {
		kind string
		i    int
	}
	matched := map[key]bool{}

	compare := func(kind, name, scope string, line int, keys []string, decl any, find func(src string) (any, string, int, bool)) {
		ref := ObjectRef{Kind: kind, Source: scope, Name: name}
		if scope != "" {
			managed[scope] = true
			if !discovering[scope] {
				res.Drift = append(res.Drift, Drift{ObjectRef: ref, Line: line, Problem: "missing",
					Note: fmt.Sprintf("no discovering source is named %q", scope)})
				return
			}
			if !srcOK[scope] {
				res.Unverified = append(res.Unverified, ref)
				return
			}
		}
		got, src, i, ok := find(scope)
		if !ok {
			if scope != "" {
				res.Drift = append(res.Drift, Drift{ObjectRef: ref, Line: line, Problem: "missing"})
			}
			return
		}
		ref.Source = src
		matched[key{kind, i}] = true
		if fc := declaredFieldDiff(decl, got, keys); len(fc) > 0 {
			res.Drift = append(res.Drift, Drift{ObjectRef: ref, Line: line, Problem: "changed", Fields: fc})
		}
	}
	hosts, vms, fws := discoveredIndexes(discovered, discovering)
	for _, h := range declared.Hosts {
		compare("host", h.Name, h.scope, h.line, h.keys, h, func(scope string) (any, string, int, bool) {
			if i, ok := hosts.find(h.Name, scope); ok {
				return discovered.Hosts[i], discovered.Hosts[i].Source, i, true
			}
			return nil, "", -1, false
		})
	}
	for _, v := range declared.VMs {
		compare("vm", v.Name, v.scope, v.line, v.keys, v, func(scope string) (any, string, int, bool) {
			if i, ok := vms.find(v.Name, scope); ok {
				return discovered.VMs[i], discovered.VMs[i].Source, i, true
			}
			return nil, "", -1, false
		})
	}
	for _, f := range declared.Firewalls {
		compare("firewall", f.Name, f.scope, f.line, f.keys, f, func(scope string) (any, string, int, bool) {
			if i, ok := fws.find(f.Name, scope); ok {
				return discovered.Firewalls[i], discovered.Firewalls[i].Source, i, true
			}
			return nil, "", -1, false
		})
	}
	unexpected := func(kind string, i int, src, name string) {
		if managed[src] && !matched[key{kind, i}] {
			res.Drift = append(res.Drift, Drift{ObjectRef: ObjectRef{Kind: kind, Source: src, Name: name}, Problem: "unexpected"})
		}
	}
	for i, h := range discovered.Hosts {
		unexpected("host", i, h.Source, h.Name)
	}
	for i, v := range discovered.VMs {
		unexpected("vm", i, v.Source, v.Name)
	}
	for i, f := range discovered.Firewalls {
		unexpected("firewall", i, f.Source, f.Name)
	}
	res.Violations, res.Warnings = splitFindings(discovered.Findings, res.Violations, res.Warnings)
	slices.SortStableFunc(res.Drift, func(a, b Drift) int { return cmpRef(a.ObjectRef, b.ObjectRef) })
	return res
}

// declaredFieldDiff compares the fields the declaration sets (keys; all
// non-zero values when keys is nil) with the discovered record. Source and
// name identify the record and are not compared.
func declaredFieldDiff(decl, got any, keys []string) []FieldChange {
	dm := map[string]any{}
	flatten("", toJSONValue(decl), dm)
	gm := map[string]any{}
	flatten("", toJSONValue(got), gm)
	set := func(k string) bool {
		if keys == nil {
			return !isZeroJSON(dm[k])
		}
		for _, x := range keys {
			if k == x || strings.HasPrefix(k, x+".") || strings.HasPrefix(k, x+"[") {
				return true
			}
		}
		return false
	}
	var fc []FieldChange
	for k, dv := range dm {
		if k == "source" || k == "name" || !set(k) {
			continue
		}
		gv := gm[k]
		if l, ok := dv.([]any); ok {
			dv, gv = sortedJSONList(l), sortedJSONList(asList(gv))
		}
		if !reflect.DeepEqual(dv, gv) {
			fc = append(fc, FieldChange{Field: k, Old: dv, New: gv})
		}
	}
	slices.SortFunc(fc, func(a, b FieldChange) int { return strings.Compare(a.Field, b.Field) })
	return fc
}

func isZeroJSON(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case float64:
		return x == 0
	case bool:
		return !x
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func sortedJSONList(l []any) []any {
	out := slices.Clone(l)
	if out == nil {
		out = []any{}
	}
	slices.SortFunc(out, func(a, b any) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
	return out
}

// WriteText prints the check result for people. Names and messages are
// escaped (output.Escape), values are JSON text.
func (c CheckResult) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	e := output.Escape
	for _, d := range c.Drift {
		loc := ""
		if d.Line > 0 {
			loc = fmt.Sprintf("%s:%d: ", e(c.Declared), d.Line)
		}
		note := ""
		if d.Note != "" {
			note = " (" + e(d.Note) + ")"
		}
		fmt.Fprintf(tw, "DRIFT\t%s%s %s/%s: %s%s\n", loc, e(d.Kind), e(d.Source), e(d.Name), e(d.Problem), note)
		for _, f := range d.Fields {
			fmt.Fprintf(tw, "\t    %s: declared %s, discovered %s\n", e(f.Field), jsonText(f.Old), jsonText(f.New))
		}
	}
	for _, f := range c.Violations {
		fmt.Fprintf(tw, "VIOLATION\t%s %s/%s: %s: %s\n", e(f.Kind), e(f.Source), e(f.Object), e(f.Check), e(f.Message))
	}
	for _, f := range c.Warnings {
		fmt.Fprintf(tw, "WARNING\t%s %s/%s: %s: %s\n", e(f.Kind), e(f.Source), e(f.Object), e(f.Check), e(f.Message))
	}
	for _, u := range c.Unverified {
		fmt.Fprintf(tw, "UNVERIFIED\t%s %s/%s: its source failed\n", e(u.Kind), e(u.Source), e(u.Name))
	}
	if c.Failed() {
		fmt.Fprintf(tw, "check failed: %d drift, %d violations, %d warnings\n", len(c.Drift), len(c.Violations), len(c.Warnings))
	} else {
		fmt.Fprintf(tw, "check passed: no drift, no violations, %d warnings\n", len(c.Warnings))
	}
	return tw.Flush()
}

// WriteJSON prints the check result as indented JSON.
func (c CheckResult) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(c)
}
