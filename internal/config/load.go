package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"github.com/opsteam/ops/internal/fielderr"
	"github.com/opsteam/ops/internal/strictyaml"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"
)

// Options says where configuration comes from.
type Options struct {
	// File is the --config flag; when empty, $OPS_CONFIG, then SearchPaths.
	File string
	// SearchPaths are tried in order when no file is named. The first that
	// exists is used; none at all is valid (built-in defaults).
	SearchPaths []string
	// EnvPrefix is "OPS".
	EnvPrefix string
	// Environ is the process environment (os.Environ()).
	Environ []string
	// Flags binds config keys (dotted, e.g. "log.level") to flags. A flag
	// overrides the file and the environment only when it was set.
	Flags map[string]*pflag.Flag
	// ElementDefaults gives, for a list of structs (key path such as
	// "backup.jobs"), the value each element starts from.
	ElementDefaults map[string]any
	// MapDefaults gives, for a map of structs (key path such as
	// "storage.targets"), entries that exist unless the file replaces them.
	MapDefaults map[string]any
}

// Result describes what was loaded.
type Result struct {
	// File is the config file used, "" when none was found.
	File string
	// Warnings are things worth telling the user that do not stop ops.
	Warnings []string

	lines   map[string]int    // display path → line in File
	envs    map[string]string // display path → environment variable that set it
	flagsBy map[string]string // display path → flag that set it
}

// Error is a configuration error: one line that names where the bad value
// came from (FILE:LINE, an environment variable or a flag) and what was
// expected.
type Error struct {
	Where string // "ops.yaml:12", "OPS_BACKUP_JOBS_0_THREADS", "--log-level" or ""
	Msg   string
}

func (e *Error) Error() string {
	if e.Where == "" {
		return e.Msg
	}
	return e.Where + ": " + e.Msg
}

// Errors is a list of configuration errors, one per line.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Where returns the origin of the value at a display path such as
// "backup.jobs[0].threads": the flag, the variable, or FILE:LINE of the key
// (or of the closest enclosing key the file has). "" for built-in defaults.
func (r *Result) Where(path string) string {
	if r == nil {
		return ""
	}
	if f, ok := r.flagsBy[path]; ok {
		return f
	}
	if e, ok := r.envs[path]; ok {
		return e
	}
	for p := path; p != ""; p = parent(p) {
		if l, ok := r.lines[p]; ok {
			return fmt.Sprintf("%s:%d", r.File, l)
		}
	}
	return ""
}

// IsSet reports whether the file, a variable or a flag gave the value at a
// display path itself (not one of its parents): false means the value is
// a built-in default.
func (r *Result) IsSet(path string) bool {
	if r == nil {
		return false
	}
	_, flag := r.flagsBy[path]
	_, env := r.envs[path]
	_, line := r.lines[path]
	return flag || env || line
}

// Locate turns an error that names a config field (a *fielderr.Error
// anywhere in the wrap chain) into an *Error that says where the value came
// from. Other errors are returned unchanged.
func (r *Result) Locate(err error) error {
	if p, ok := fieldPath(err); ok {
		return &Error{Where: r.Where(p), Msg: err.Error()}
	}
	return err
}

// fieldPath finds the key path an error names: a *fielderr.Error, or any
// error with a FieldPath method (an error type of another package that does not
// wrap fielderr), anywhere in the wrap chain.
func fieldPath(err error) (string, bool) {
	var fe *fielderr.Error
	if errors.As(err, &fe) {
		return fe.FieldPath(), true
	}
	var fp interface{ FieldPath() string }
	if errors.As(err, &fp) {
		return fp.FieldPath(), true
	}
	return "", false
}

func parent(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}

// FindFile applies the lookup order of the contract: --config, $OPS_CONFIG,
// then the search paths. explicit reports whether the file was named (a
// named file that does not exist is an error; a missing default is not).
func FindFile(opts Options) (file string, explicit bool) {
	if opts.File != "" {
		return opts.File, true
	}
	if v := lookupEnv(opts.Environ, opts.EnvPrefix+"_CONFIG"); v != "" {
		return v, true
	}
	for _, p := range opts.SearchPaths {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, false
		}
	}
	return "", false
}

// Load reads the configuration into out (a pointer to a struct that already
// holds the built-in defaults).
func Load(opts Options, out any) (*Result, error) {
	rv := reflect.ValueOf(out)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("config.Load: out must be a pointer to a struct, got %T", out)
	}
	typ := rv.Elem().Type()
	res := &Result{lines: map[string]int{}, envs: map[string]string{}, flagsBy: map[string]string{}}
	raw, err := readFile(opts, typ, res)
	if err != nil {
		return res, err
	}

	// Lists of structs become maps keyed by index so that viper can address
	// every element's keys; map and list defaults are filled in.
	shaped, _ := shape(typ, raw, "", opts).(map[string]any)
	if shaped == nil {
		shaped = map[string]any{}
	}
	discoverEnvEntries(typ, shaped, nil, opts)

	v := viper.New()
	// Defaults come from the struct itself (decoding merges into it), so
	// viper holds only the file, the environment and the flags.
	if err := v.MergeConfigMap(shaped); err != nil {
		return res, fmt.Errorf("config: %w", err)
	}
	errs, err := bindEnv(v, typ, shaped, opts, res)
	if err != nil {
		return res, err
	}
	ferrs, err := bindFlags(v, typ, opts, res)
	if err != nil {
		return res, err
	}
	if errs = append(errs, ferrs...); len(errs) > 0 {
		return res, errs
	}
	return res, decode(typ, v, out, res)
}

// readFile reads and parses the config file, if there is one; a missing
// file that was only searched for is no error.
func readFile(opts Options, typ reflect.Type, res *Result) (map[string]any, error) {
	file, explicit := FindFile(opts)
	if file == "" {
		return map[string]any{}, nil
	}
	res.File = file
	data, err := os.ReadFile(file)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && !explicit {
			res.File = ""
			return map[string]any{}, nil
		}
		return nil, &Error{Where: file, Msg: "cannot read config file: " + describeIOError(err)}
	}
	return parseFile(file, data, typ, res)
}

// bindEnv binds every key to its OPS_* variables and checks the value of
// each variable that is set.
func bindEnv(v *viper.Viper, typ reflect.Type, shaped map[string]any, opts Options, res *Result) (Errors, error) {
	var errs Errors
	for _, lf := range leaves(typ, shaped, opts.EnvPrefix) {
		names := lf.envNames
		if err := v.BindEnv(append([]string{lf.key}, names...)...); err != nil {
			return nil, fmt.Errorf("config: binding %s: %w", lf.key, err)
		}
		for _, n := range names {
			val, ok := lookupEnvOK(opts.Environ, n)
			if !ok || val == "" {
				continue
			}
			res.envs[lf.display] = n
			if err := checkText(lf.typ, val); err != nil {
				errs = append(errs, &Error{Where: n, Msg: lf.display + ": " + err.Error()})
			}
			break
		}
	}
	return errs, nil
}

// bindFlags binds the flags given on the command line and checks their
// values.
func bindFlags(v *viper.Viper, typ reflect.Type, opts Options, res *Result) (Errors, error) {
	var errs Errors
	for key, fl := range opts.Flags {
		// Only flags given on the command line count: an unset flag's
		// default must not hide the file, the environment or the struct's
		// own default (viper would fall back to it).
		if fl == nil || !fl.Changed {
			continue
		}
		if err := v.BindPFlag(key, fl); err != nil {
			return nil, fmt.Errorf("config: binding --%s: %w", fl.Name, err)
		}
		res.flagsBy[key] = "--" + fl.Name
		if t, ok := typeAt(typ, key); ok {
			if err := checkText(t, fl.Value.String()); err != nil {
				errs = append(errs, &Error{Where: "--" + fl.Name, Msg: err.Error()})
			}
		}
	}
	return errs, nil
}

// decode merges viper's settings into out.
func decode(typ reflect.Type, v *viper.Viper, out any, res *Result) error {
	settings := unshape(typ, v.AllSettings())
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			mapstructure.TextUnmarshallerHookFunc(),
			mapstructure.StringToTimeDurationHookFunc(),
			mapstructure.StringToSliceHookFunc(","),
		),
		WeaklyTypedInput: true,
		ErrorUnused:      true,
		TagName:          "yaml",
		Result:           out,
	})
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := dec.Decode(settings); err != nil {
		// The file and every variable were checked above; reaching this
		// means a schema/decoder mismatch, which is a bug worth reporting.
		return &Error{Where: res.File, Msg: "cannot decode config: " + err.Error()}
	}
	return nil
}

func describeIOError(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// parseFile parses YAML, checks it against the schema and returns it as a
// plain map.
func parseFile(file string, data []byte, typ reflect.Type, res *Result) (map[string]any, error) {
	root, err := strictyaml.Parse(file, data, "a config file")
	if err != nil {
		var se *strictyaml.Error
		if errors.As(err, &se) {
			return nil, &Error{Where: fmt.Sprintf("%s:%d", se.File, se.Line), Msg: se.Msg}
		}
		return nil, err
	}
	if root == nil { // empty file
		return map[string]any{}, nil
	}
	var errs Errors
	check(root, typ, "", file, res.lines, &errs)
	if len(errs) > 0 {
		return nil, errs
	}
	var m map[string]any
	if err := root.Decode(&m); err != nil {
		return nil, &Error{Where: fmt.Sprintf("%s:%d", file, root.Line), Msg: "invalid config: " + err.Error()}
	}
	return m, nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// check walks a YAML node against a type, recording the line of every key
// and collecting unknown keys and type errors.
func check(n *yaml.Node, t reflect.Type, path, file string, lines map[string]int, errs *Errors) {
	where := func(n *yaml.Node) string { return fmt.Sprintf("%s:%d", file, n.Line) }
	n = strictyaml.Resolve(n)
	if strictyaml.IsNull(n) {
		return // an empty value leaves the default in place
	}
	name := path
	if name == "" {
		name = "the top level"
	}
	switch {
	case isScalar(t):
		if n.Kind != yaml.ScalarNode {
			*errs = append(*errs, &Error{Where: where(n), Msg: fmt.Sprintf("%s: expected %s, got %s", name, describe(t), strictyaml.KindName(n))})
			return
		}
		if err := checkText(t, n.Value); err != nil {
			*errs = append(*errs, &Error{Where: where(n), Msg: name + ": " + err.Error()})
		}
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			*errs = append(*errs, &Error{Where: where(n), Msg: fmt.Sprintf("%s: expected a list, got %s", name, strictyaml.KindName(n))})
			return
		}
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			lines[p] = c.Line
			check(c, t.Elem(), p, file, lines, errs)
		}
	case t.Kind() == reflect.Map:
		if n.Kind != yaml.MappingNode {
			*errs = append(*errs, &Error{Where: where(n), Msg: fmt.Sprintf("%s: expected a mapping, got %s", name, strictyaml.KindName(n))})
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			p := join(path, k.Value)
			lines[p] = k.Line
			check(val, t.Elem(), p, file, lines, errs)
		}
	case t.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			*errs = append(*errs, &Error{Where: where(n), Msg: fmt.Sprintf("%s: expected a mapping, got %s", name, strictyaml.KindName(n))})
			return
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			p := join(path, k.Value)
			lines[p] = k.Line
			if seen[k.Value] {
				*errs = append(*errs, &Error{Where: where(k), Msg: fmt.Sprintf("duplicate key %q", p)})
				continue
			}
			seen[k.Value] = true
			f, ok := structField(t, k.Value)
			if !ok {
				msg := fmt.Sprintf("unknown key %q", p)
				if near := nearest(k.Value, structKeys(t)); near != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", join(path, near))
				} else {
					msg += fmt.Sprintf(" (valid keys here: %s)", strings.Join(structKeys(t), ", "))
				}
				*errs = append(*errs, &Error{Where: where(k), Msg: msg})
				continue
			}
			check(val, f.Type, p, file, lines, errs)
		}
	}
}

// checkText checks that text (from the file, a variable or a flag) is valid
// for a type. Lists of scalars from variables and flags are comma-separated.
func checkText(t reflect.Type, s string) error {
	if t.Kind() == reflect.Slice && isScalar(t.Elem()) {
		for _, part := range strings.Split(s, ",") {
			if _, err := parseScalar(t.Elem(), strings.TrimSpace(part)); err != nil {
				return err
			}
		}
		return nil
	}
	if !isScalar(t) {
		return fmt.Errorf("expected %s; set its keys one by one", describe(t))
	}
	_, err := parseScalar(t, s)
	return err
}

// typeAt finds the type of a dotted key such as "log.level" in the schema
// (struct fields only).
func typeAt(t reflect.Type, key string) (reflect.Type, bool) {
	for _, seg := range strings.Split(key, ".") {
		if t.Kind() != reflect.Struct {
			return nil, false
		}
		f, ok := structField(t, seg)
		if !ok {
			return nil, false
		}
		t = f.Type
	}
	return t, true
}

// shape prepares file data for viper: lists of structs become maps keyed by
// index, element and map defaults are merged in.
func shape(t reflect.Type, v any, path string, opts Options) any {
	switch {
	case isScalar(t):
		return v
	case t.Kind() == reflect.Struct:
		m, _ := v.(map[string]any)
		out := map[string]any{}
		for k, val := range m {
			if f, ok := structField(t, k); ok {
				out[k] = shape(f.Type, val, join(path, k), opts)
			}
		}
		return out
	case t.Kind() == reflect.Map && t.Elem().Kind() == reflect.Struct:
		m, _ := v.(map[string]any)
		out := map[string]any{}
		if d, ok := opts.MapDefaults[path]; ok {
			// Built-in entries exist unless the file defines one of the
			// same name, which then replaces it whole.
			for k, val := range toMap(d) {
				out[strings.ToLower(k)] = shape(t.Elem(), val, path+".*", opts)
			}
		}
		for k, val := range m {
			out[strings.ToLower(k)] = shape(t.Elem(), val, path+".*", opts)
		}
		return out
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		l, _ := v.([]any)
		out := map[string]any{}
		for i, el := range l {
			em, _ := el.(map[string]any)
			if d, ok := opts.ElementDefaults[path]; ok {
				em = deepMerge(toMap(d), em)
			}
			out[strconv.Itoa(i)] = shape(t.Elem(), em, path+"[]", opts)
		}
		return out
	}
	return v
}

// unshape turns index maps back into lists for decoding.
func unshape(t reflect.Type, v any) any {
	switch {
	case isScalar(t):
		return v
	case t.Kind() == reflect.Struct:
		m, _ := v.(map[string]any)
		for k, val := range m {
			if f, ok := structField(t, k); ok {
				m[k] = unshape(f.Type, val)
			}
		}
		return m
	case t.Kind() == reflect.Map && t.Elem().Kind() == reflect.Struct:
		m, _ := v.(map[string]any)
		for k, val := range m {
			m[k] = unshape(t.Elem(), val)
		}
		return m
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return v
		}
		idx := make([]int, 0, len(m))
		for k := range m {
			if i, err := strconv.Atoi(k); err == nil {
				idx = append(idx, i)
			}
		}
		sort.Ints(idx)
		out := make([]any, 0, len(idx))
		for _, i := range idx {
			out = append(out, unshape(t.Elem(), m[strconv.Itoa(i)]))
		}
		return out
	}
	return v
}

// toMap converts a struct value to the map form a YAML file would have.
func toMap(v any) map[string]any {
	b, err := yaml.Marshal(v)
	if err != nil {
		return map[string]any{}
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil || m == nil {
		return map[string]any{}
	}
	return m
}

// deepMerge returns base overlaid with over (over wins; nested maps merge).
func deepMerge(base, over map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		if om, ok := v.(map[string]any); ok {
			if bm, ok := out[k].(map[string]any); ok {
				out[k] = deepMerge(bm, om)
				continue
			}
		}
		if v == nil {
			if _, ok := out[k]; ok {
				continue // an empty key keeps the default
			}
		}
		out[k] = v
	}
	return out
}

type boundLeaf struct {
	leaf
	envNames []string
}

// leaves lists every settable key for the data at hand, with the
// environment variables that can set it (the first one set wins).
func leaves(t reflect.Type, data map[string]any, prefix string) []boundLeaf {
	var out []boundLeaf
	var walk func(t reflect.Type, data any, key, display string, envs [][]string)
	walk = func(t reflect.Type, data any, key, display string, envs [][]string) {
		m, _ := data.(map[string]any)
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name := fieldName(f)
			if name == "" {
				continue
			}
			k, d := join(key, name), join(display, name)
			fenvs := extend(envs, name)
			ft := f.Type
			switch {
			case isScalar(ft) || (ft.Kind() == reflect.Slice && isScalar(ft.Elem())):
				out = append(out, boundLeaf{leaf{k, d, ft}, names(prefix, fenvs)})
			case ft.Kind() == reflect.Struct:
				walk(ft, m[name], k, d, fenvs)
			case ft.Kind() == reflect.Map && ft.Elem().Kind() == reflect.Struct:
				sub, _ := m[name].(map[string]any)
				for _, entry := range sortedKeys(sub) {
					walk(ft.Elem(), sub[entry], join(k, entry), join(d, entry), extend(fenvs, entry))
				}
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
				sub, _ := m[name].(map[string]any)
				idx := sortedKeys(sub)
				sort.SliceStable(idx, func(a, b int) bool { x, _ := strconv.Atoi(idx[a]); y, _ := strconv.Atoi(idx[b]); return x < y })
				for _, i := range idx {
					alts := extend(fenvs, i)
					if el, ok := sub[i].(map[string]any); ok {
						if n, ok := el["name"].(string); ok && n != "" {
							alts = append(alts, extend(fenvs, n)...)
						}
					}
					walk(ft.Elem(), sub[i], join(k, i), fmt.Sprintf("%s[%s]", d, i), alts)
				}
			}
		}
	}
	walk(t, data, "", "", [][]string{nil})
	return out
}

func extend(envs [][]string, seg string) [][]string {
	out := make([][]string, len(envs))
	for i, e := range envs {
		out[i] = append(append([]string(nil), e...), seg)
	}
	return out
}

func names(prefix string, envs [][]string) []string {
	out := make([]string, len(envs))
	for i, e := range envs {
		out[i] = envName(prefix, e)
	}
	return out
}

// discoverEnvEntries adds map entries and list elements that only the
// environment mentions (OPS_STORAGE_TARGETS_NEW_TYPE=local creates target
// "new"; OPS_BACKUP_JOBS_1_NAME=x creates element 1), so that every key can
// be set from the environment alone.
func discoverEnvEntries(t reflect.Type, data map[string]any, segs []string, opts Options) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := fieldName(f)
		if name == "" {
			continue
		}
		ft := f.Type
		fsegs := append(append([]string(nil), segs...), name)
		switch {
		case ft.Kind() == reflect.Struct && !isScalar(ft):
			sub, ok := data[name].(map[string]any)
			if !ok {
				sub = map[string]any{}
			}
			discoverEnvEntries(ft, sub, fsegs, opts)
			if len(sub) > 0 {
				data[name] = sub
			}
		case (ft.Kind() == reflect.Map || ft.Kind() == reflect.Slice) && ft.Elem().Kind() == reflect.Struct:
			sub, ok := data[name].(map[string]any)
			if !ok {
				sub = map[string]any{}
			}
			p := envName(opts.EnvPrefix, fsegs) + "_"
			suffixes := leafEnvSuffixes(ft.Elem())
			for _, kv := range opts.Environ {
				k, val, _ := strings.Cut(kv, "=")
				if !strings.HasPrefix(k, p) || val == "" {
					continue
				}
				rest := k[len(p):]
				for _, s := range suffixes {
					if entry, ok := strings.CutSuffix(rest, "_"+s); ok && entry != "" {
						entry = strings.ToLower(entry)
						if ft.Kind() == reflect.Slice {
							if _, err := strconv.Atoi(entry); err != nil {
								break // by-name addressing of an existing element
							}
						}
						if _, exists := sub[entry]; !exists {
							el := map[string]any{}
							path := strings.ToLower(strings.Join(fsegs, "."))
							if ft.Kind() == reflect.Slice {
								if d, ok := opts.ElementDefaults[path]; ok {
									el = toMap(d)
								}
							}
							sub[entry] = el
						}
						break
					}
				}
			}
			if len(sub) > 0 {
				data[name] = sub
			}
		}
	}
}

// leafEnvSuffixes lists the variable suffixes of every leaf of a struct
// type (THREADS, MYSQL_HOST, RETENTION_KEEP_LAST, …), longest first.
func leafEnvSuffixes(t reflect.Type) []string {
	var out []string
	var walk func(t reflect.Type, segs []string)
	walk = func(t reflect.Type, segs []string) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name := fieldName(f)
			if name == "" {
				continue
			}
			s := append(append([]string(nil), segs...), name)
			if f.Type.Kind() == reflect.Struct && !isScalar(f.Type) {
				walk(f.Type, s)
				continue
			}
			out = append(out, strings.TrimPrefix(envName("", s), "_"))
		}
	}
	walk(t, nil)
	sort.Slice(out, func(a, b int) bool { return len(out[a]) > len(out[b]) })
	return out
}

func lookupEnv(environ []string, key string) string {
	v, _ := lookupEnvOK(environ, key)
	return v
}

func lookupEnvOK(environ []string, key string) (string, bool) {
	for i := len(environ) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(environ[i], "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}
