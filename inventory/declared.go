package inventory

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/opsteam/ops/internal/bytesize"
	"github.com/opsteam/ops/internal/strictyaml"
	"github.com/opsteam/ops/internal/suggest"
)

// Declared is a declared inventory: what cannot be discovered (Hyper-V
// hosts, appliance firewalls) and what discovered objects are expected to
// look like. The YAML uses the field names of the JSON output.
type Declared struct {
	Path      string
	Hosts     []Host
	VMs       []VM
	Firewalls []Firewall
}

// ErrDeclared matches every error of LoadDeclared and ParseDeclared: the
// file cannot be read or is not a valid declared inventory. cmd/ops exits 2
// (configuration error) for it.
var ErrDeclared = errors.New("invalid declared inventory")

// DeclaredError is a problem in a declared inventory file, located by line
// and key path ("hosts[1].cpu_cores").
type DeclaredError struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (e *DeclaredError) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc += ":" + strconv.Itoa(e.Line)
	}
	if e.Field != "" {
		return loc + ": " + e.Field + ": " + e.Msg
	}
	return loc + ": " + e.Msg
}

// Is makes errors.Is(err, ErrDeclared) true.
func (e *DeclaredError) Is(target error) bool { return target == ErrDeclared }

// declaredReadError is a declared file that cannot be read.
type declaredReadError struct{ err error }

func (e *declaredReadError) Error() string   { return "declared inventory: " + e.err.Error() }
func (e *declaredReadError) Unwrap() []error { return []error{ErrDeclared, e.err} }

// Keys a declaration may use, per record kind. Computed fields (vm_count,
// tables) are not declarable.
var declKeys = map[reflect.Type][]string{
	reflect.TypeFor[Host](): {"source", "name", "hypervisor", "version", "build", "vendor", "model", "cpu_model",
		"cpu_sockets", "cpu_cores", "cpu_threads", "cpu_mhz", "memory_bytes", "cluster", "connection", "power", "maintenance"},
	reflect.TypeFor[VM](): {"source", "name", "uuid", "host", "cluster", "power", "cpus", "memory_bytes", "guest_os",
		"ips", "datastores", "autostart", "template"},
	reflect.TypeFor[Firewall](): {"source", "name", "vendor", "model", "version", "serial", "capabilities", "rules", "licenses", "require_capabilities"},
	reflect.TypeFor[License]():  {"name", "expires"},
}

// LoadDeclared reads and validates a declared inventory file. Unknown keys,
// wrong types and invalid values are errors naming file:line and the key.
func LoadDeclared(path string) (*Declared, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, &declaredReadError{err}
	}
	return ParseDeclared(path, b)
}

// ParseDeclared is LoadDeclared on bytes; name is used in error messages.
func ParseDeclared(name string, data []byte) (*Declared, error) {
	d := &Declared{Path: name}
	root, err := strictyaml.Parse(name, data, "a declared inventory")
	if err != nil {
		var se *strictyaml.Error
		if errors.As(err, &se) {
			return nil, &DeclaredError{File: se.File, Line: se.Line, Msg: se.Msg}
		}
		return nil, err
	}
	if root == nil {
		return d, nil // empty file: nothing declared
	}
	dec := &declDecoder{file: name}
	if root.Kind != yaml.MappingNode {
		return nil, dec.errf(root, "", "expected a mapping with hosts, vms and firewalls, got %s", strictyaml.KindName(root))
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], strictyaml.Resolve(root.Content[i+1])
		if seen[k.Value] {
			return nil, dec.errf(k, k.Value, "duplicate key")
		}
		seen[k.Value] = true
		var err error
		switch k.Value {
		case "hosts":
			err = decodeList(dec, v, "hosts", &d.Hosts, func(h *Host, line int, keys []string) { h.line, h.keys = line, keys })
		case "vms":
			err = decodeList(dec, v, "vms", &d.VMs, func(x *VM, line int, keys []string) { x.line, x.keys = line, keys })
		case "firewalls":
			err = decodeList(dec, v, "firewalls", &d.Firewalls, func(f *Firewall, line int, keys []string) { f.line, f.keys = line, keys })
		default:
			err = dec.errf(k, k.Value, "unknown key%s (valid: hosts, vms, firewalls)", suggest.DidYouMean(k.Value, []string{"hosts", "vms", "firewalls"}))
		}
		if err != nil {
			return nil, err
		}
	}
	if err := d.validate(); err != nil {
		return nil, err
	}
	return d, nil
}

func decodeList[T any](dec *declDecoder, n *yaml.Node, path string, dst *[]T, setLine func(*T, int, []string)) error {
	if strictyaml.IsNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		return dec.errf(n, path, "expected a list, got %s", strictyaml.KindName(n))
	}
	*dst = slices.Grow(*dst, len(n.Content))
	for i, item := range n.Content {
		var v T
		item = strictyaml.Resolve(item)
		if err := dec.decode(item, reflect.ValueOf(&v).Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
			return err
		}
		keys := make([]string, 0, len(item.Content)/2)
		for j := 0; j+1 < len(item.Content); j += 2 {
			keys = append(keys, item.Content[j].Value)
		}
		setLine(&v, item.Line, keys)
		*dst = append(*dst, v)
		// The decoded item is garbage now: a large file does not hold
		// its whole tree to the end. (Not when the list itself has an
		// anchor: an alias may decode it again.)
		if n.Anchor == "" {
			n.Content[i] = nil
		}
	}
	return nil
}

type declDecoder struct{ file string }

func (d *declDecoder) errf(n *yaml.Node, field, format string, args ...any) error {
	return &DeclaredError{File: d.file, Line: n.Line, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// decode fills v from n strictly, using the json tag names as keys.
func (d *declDecoder) decode(n *yaml.Node, v reflect.Value, path string) error {
	n = strictyaml.Resolve(n)
	switch v.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return d.errf(n, path, "expected a mapping, got %s", strictyaml.KindName(n))
		}
		allowed := declKeys[v.Type()]
		fields := map[string]int{}
		for i := 0; i < v.NumField(); i++ {
			tag, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
			if slices.Contains(allowed, tag) {
				fields[tag] = i
			}
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			fp := path + "." + k.Value
			idx, ok := fields[k.Value]
			if !ok {
				return d.errf(k, fp, "unknown field%s (valid: %s)", suggest.DidYouMean(k.Value, allowed), strings.Join(allowed, ", "))
			}
			if seen[k.Value] {
				return d.errf(k, fp, "duplicate key")
			}
			seen[k.Value] = true
			if err := d.decode(val, v.Field(idx), fp); err != nil {
				return err
			}
		}
		return nil
	case reflect.Slice:
		if strictyaml.IsNull(n) {
			return nil
		}
		if n.Kind != yaml.SequenceNode {
			return d.errf(n, path, "expected a list, got %s", strictyaml.KindName(n))
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			if err := d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		return d.errf(n, path, "expected %s, got %s", typeName(v.Kind()), strictyaml.KindName(n))
	}
	switch v.Kind() {
	case reflect.String:
		switch n.Tag {
		case "!!null":
			return nil
		case "!!str", "!!int", "!!float", "!!timestamp":
			v.SetString(n.Value)
			return nil
		}
	case reflect.Int, reflect.Int64:
		if n.Tag == "!!int" {
			i, err := strconv.ParseInt(n.Value, 0, 64)
			if err != nil {
				return d.errf(n, path, "%q: %v", n.Value, errors.Unwrap(err))
			}
			if i < 0 {
				return d.errf(n, path, "%d: expected 0 or more", i)
			}
			v.SetInt(i)
			return nil
		}
		if n.Tag == "!!str" && strings.HasSuffix(path, "_bytes") {
			sz, err := bytesize.Parse(n.Value)
			if err != nil {
				return d.errf(n, path, "%v", err)
			}
			v.SetInt(int64(sz))
			return nil
		}
	case reflect.Bool:
		if n.Tag == "!!bool" {
			var b bool
			if err := n.Decode(&b); err != nil {
				return d.errf(n, path, "%v", err)
			}
			v.SetBool(b)
			return nil
		}
	}
	return d.errf(n, path, "expected %s, got %s", typeName(v.Kind()), strictyaml.KindName(n))
}

func typeName(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int64:
		return "an integer"
	case reflect.Bool:
		return "true or false"
	}
	return k.String()
}

func (d *Declared) validate() error {
	e := d.errAt
	// Host and firewall names are DNS names (case-insensitive), VM names
	// are compared exactly.
	hosts, vms, firewalls := declaredNames{fold: true}, declaredNames{}, declaredNames{fold: true}
	for i, h := range d.Hosts {
		p := fmt.Sprintf("hosts[%d]", i)
		if err := hosts.check(d, h.line, p, h.Source, h.Name); err != nil {
			return err
		}
		if err := oneOf(h.Connection, ConnConnected, ConnDisconnected, ConnNotResponding); err != "" {
			return e(h.line, p+".connection", "%s", err)
		}
		if err := oneOf(h.Power, PowerOn, PowerOff, PowerSuspended); err != "" {
			return e(h.line, p+".power", "%s", err)
		}
	}
	for i, v := range d.VMs {
		p := fmt.Sprintf("vms[%d]", i)
		if err := vms.check(d, v.line, p, v.Source, v.Name); err != nil {
			return err
		}
		if err := oneOf(v.Power, PowerOn, PowerOff, PowerSuspended); err != "" {
			return e(v.line, p+".power", "%s", err)
		}
	}
	for i, f := range d.Firewalls {
		p := fmt.Sprintf("firewalls[%d]", i)
		if err := firewalls.check(d, f.line, p, f.Source, f.Name); err != nil {
			return err
		}
		for j, c := range f.Capabilities {
			if !IsCapability(c) {
				return e(f.line, fmt.Sprintf("%s.capabilities[%d]", p, j), "unknown capability %q%s (valid: %s)", c, suggest.DidYouMean(c, Capabilities), strings.Join(Capabilities, ", "))
			}
		}
		for j, c := range f.RequireCapabilities {
			if !IsCapability(c) {
				return e(f.line, fmt.Sprintf("%s.require_capabilities[%d]", p, j), "unknown capability %q%s (valid: %s)", c, suggest.DidYouMean(c, Capabilities), strings.Join(Capabilities, ", "))
			}
		}
		for j, l := range f.Licenses {
			lp := fmt.Sprintf("%s.licenses[%d]", p, j)
			if l.Name == "" {
				return e(f.line, lp+".name", "required")
			}
			if l.Expires != "" && !strings.EqualFold(l.Expires, "never") {
				if _, err := time.Parse(time.DateOnly, l.Expires); err != nil {
					return e(f.line, lp+".expires", "%q: expected a date YYYY-MM-DD or \"never\"", l.Expires)
				}
			}
		}
	}
	// The declaration's own source: field names the source expected to
	// discover the object; keep it as scope and let the file source set
	// Source.
	for i := range d.Hosts {
		d.Hosts[i].scope = d.Hosts[i].Source
	}
	for i := range d.VMs {
		d.VMs[i].scope = d.VMs[i].Source
	}
	for i := range d.Firewalls {
		d.Firewalls[i].scope = d.Firewalls[i].Source
		for j := range d.Firewalls[i].Licenses {
			if strings.EqualFold(d.Firewalls[i].Licenses[j].Expires, "never") {
				d.Firewalls[i].Licenses[j].Expires = ""
			}
		}
	}
	return nil
}

func (d *Declared) errAt(line int, field, format string, args ...any) error {
	return &DeclaredError{File: d.Path, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// declaredNames checks the names of one kind of record: each is required
// and declared once per scope (the declaration's source: field).
type declaredNames struct {
	seen map[[2]string]int // scope, name → line
	fold bool              // compare names case-insensitively
}

func (n *declaredNames) check(d *Declared, line int, path, scope, name string) error {
	if name == "" {
		return d.errAt(line, path+".name", "required")
	}
	k := [2]string{scope, name}
	if n.fold {
		k[1] = strings.ToLower(name)
	}
	if l, dup := n.seen[k]; dup {
		return d.errAt(line, path+".name", "%q is already declared on line %d", name, l)
	}
	if n.seen == nil {
		n.seen = map[[2]string]int{}
	}
	n.seen[k] = line
	return nil
}

func oneOf(v string, valid ...string) string {
	if v == "" || slices.Contains(valid, v) {
		return ""
	}
	return fmt.Sprintf("%q: expected %s", v, orList(valid))
}

func orList(v []string) string {
	if len(v) == 1 {
		return v[0]
	}
	return strings.Join(v[:len(v)-1], ", ") + " or " + v[len(v)-1]
}

// Records returns the declared records tagged with the given source name.
func (d *Declared) Records(source string) Records {
	r := Records{Hosts: make([]Host, 0, len(d.Hosts)), VMs: make([]VM, 0, len(d.VMs)), Firewalls: make([]Firewall, 0, len(d.Firewalls))}
	for _, h := range d.Hosts {
		h.Source = source
		r.Hosts = append(r.Hosts, h)
	}
	for _, v := range d.VMs {
		v.Source = source
		v.IPs = nonNil(v.IPs)
		v.Datastores = nonNil(v.Datastores)
		r.VMs = append(r.VMs, v)
	}
	for _, f := range d.Firewalls {
		f.Source = source
		f.Capabilities = nonNil(f.Capabilities)
		f.Licenses = nonNil(f.Licenses)
		f.Tables = nonNil(f.Tables)
		r.Firewalls = append(r.Firewalls, f)
	}
	return r
}

// FileSource reads a declared inventory file (source type "file").
type FileSource struct {
	SourceName string
	Path       string
	Wait       time.Duration // per-source timeout (0 = Options.Timeout)
}

var _ Source = (*FileSource)(nil)

func (s *FileSource) Name() string           { return s.SourceName }
func (s *FileSource) Type() string           { return TypeFile }
func (s *FileSource) Endpoint() string       { return s.Path }
func (s *FileSource) Timeout() time.Duration { return s.Wait }

// Collect loads the file.
func (s *FileSource) Collect(ctx context.Context) (Records, error) {
	if err := ctx.Err(); err != nil {
		return Records{}, err
	}
	d, err := LoadDeclared(s.Path)
	if err != nil {
		return Records{}, err
	}
	return d.Records(s.SourceName), nil
}
