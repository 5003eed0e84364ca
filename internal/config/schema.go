package config

import (
	"encoding"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/opsteam/ops/internal/bytesize"
	"github.com/opsteam/ops/internal/suggest"
)

// The schema is derived from the typed config structs by reflection: every
// struct field with a `yaml` tag is a key. It is what lets ops check a file
// strictly (unknown keys, wrong types, with line numbers) and bind an OPS_*
// variable to every key, including keys inside map entries and list elements.

var (
	durationType = reflect.TypeOf(time.Duration(0))
	sizeType     = reflect.TypeOf(bytesize.Size(0))
	textUnmarsh  = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()
)

// fieldName returns the config key of a struct field, or "" if it has none.
func fieldName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	tag := f.Tag.Get("yaml")
	name, _, _ := strings.Cut(tag, ",")
	if name == "-" {
		return ""
	}
	if name == "" {
		name = strings.ToLower(f.Name)
	}
	return name
}

// structKeys lists the keys of a struct type in declaration order.
func structKeys(t reflect.Type) []string {
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		if n := fieldName(t.Field(i)); n != "" {
			keys = append(keys, n)
		}
	}
	return keys
}

// structField finds the field of a struct type for a key.
func structField(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if fieldName(f) == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// isScalar reports whether a type is written as one YAML scalar.
func isScalar(t reflect.Type) bool {
	if reflect.PointerTo(t).Implements(textUnmarsh) || t == durationType {
		return true
	}
	switch t.Kind() {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

// describe says what a scalar type expects, for error messages.
func describe(t reflect.Type) string {
	switch {
	case t == durationType:
		return "a duration such as 30s, 5m or 1h"
	case t == sizeType:
		return "a size such as 64MiB or 1GB"
	case reflect.PointerTo(t).Implements(textUnmarsh):
		return "a string"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	}
	return t.String()
}

// parseScalar converts text to a value of a scalar type. It is the single
// place that decides what text each type accepts, for the file, environment
// variables and flags alike.
func parseScalar(t reflect.Type, s string) (reflect.Value, error) {
	v := reflect.New(t).Elem()
	if t == durationType {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return v, fmt.Errorf("expected %s, got %q", describe(t), s)
		}
		v.SetInt(int64(d))
		return v, nil
	}
	if tu, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
		if err := tu.UnmarshalText([]byte(s)); err != nil {
			return v, err
		}
		return v, nil
	}
	switch t.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return v, fmt.Errorf("expected true or false, got %q", s)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, t.Bits())
		if err != nil {
			return v, fmt.Errorf("expected %s, got %q", describe(t), s)
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(strings.TrimSpace(s), 10, t.Bits())
		if err != nil {
			return v, fmt.Errorf("expected %s, got %q", describe(t), s)
		}
		v.SetUint(n)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(strings.TrimSpace(s), t.Bits())
		if err != nil {
			return v, fmt.Errorf("expected %s, got %q", describe(t), s)
		}
		v.SetFloat(f)
	default:
		return v, fmt.Errorf("cannot set %s from text", t)
	}
	return v, nil
}

// nearest returns the candidate closest to key, if it is close enough to be
// a plausible typo (internal/suggest's rule, the one every "did you mean" of
// ops follows), else "".
func nearest(key string, candidates []string) string {
	if c := suggest.Closest(key, candidates, 1); len(c) > 0 {
		return c[0]
	}
	return ""
}

// leaf is one settable key: its dotted path (as viper addresses it), the path
// shown to people (with [i] for list elements), and its type.
type leaf struct {
	key     string // backup.jobs.0.threads
	display string // backup.jobs[0].threads
	typ     reflect.Type
}

// envName is the OPS_* variable for a key path given as segments.
func envName(prefix string, segs []string) string {
	var b strings.Builder
	b.WriteString(prefix)
	for _, s := range segs {
		b.WriteByte('_')
		b.WriteString(strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(s)))
	}
	return b.String()
}

func sortedKeys[M ~map[string]V, V any](m M) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
