package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// secretFileKeys are the keys whose value is the path of a file holding a
// secret (a password, an API key, a private key, an age identity or a
// bearer token).
var secretFileKeys = []string{"password_file", "key_file", "identity_file", "manifest_key_file", "token_file"}

// FileProblem is a *_file key whose file cannot be read.
type FileProblem struct {
	Path string // display path of the key, e.g. backup.jobs[0].mysql.password_file
	File string // its value
	Err  error
}

// FileProblems walks a loaded config and returns one problem for every
// key ending in _file that is set and names no readable regular file.
func FileProblems(cfg any) []FileProblem {
	var out []FileProblem
	walkFileKeys(cfg, func(p, name, file string) {
		if !strings.HasSuffix(name, "_file") {
			return
		}
		f, err := os.Open(file)
		if err == nil {
			var st os.FileInfo
			if st, err = f.Stat(); err == nil && st.IsDir() {
				err = fmt.Errorf("%s is a directory", file)
			}
			if err == nil {
				if _, rerr := f.Read(make([]byte, 1)); rerr != nil && !errors.Is(rerr, io.EOF) {
					err = rerr // e.g. EACCES only shows on read for some file systems
				}
			}
			f.Close()
		}
		if err != nil {
			out = append(out, FileProblem{Path: p, File: file, Err: err})
		}
	})
	return out
}

// SecretFileWarnings walks a loaded config and returns one warning for every
// secret file that group or others may read.
func SecretFileWarnings(cfg any) []string {
	var out []string
	walkFileKeys(cfg, func(p, name, file string) {
		if isSecretFileKey(name) {
			if w := secretFileWarning(p, file); w != "" {
				out = append(out, w)
			}
		}
	})
	return out
}

// walkFileKeys calls fn for every non-empty string field of cfg whose key
// ends in "file" (password_file, key_file, ca_file, ...), in a stable order.
func walkFileKeys(cfg any, fn func(path, name, value string)) {
	var walk func(v reflect.Value, path string)
	walk = func(v reflect.Value, path string) {
		switch v.Kind() {
		case reflect.Pointer, reflect.Interface:
			if !v.IsNil() {
				walk(v.Elem(), path)
			}
		case reflect.Struct:
			t := v.Type()
			for i := 0; i < t.NumField(); i++ {
				name := fieldName(t.Field(i))
				if name == "" {
					continue
				}
				f := v.Field(i)
				p := join(path, name)
				if f.Kind() == reflect.String && strings.HasSuffix(name, "file") {
					if f.String() != "" {
						fn(p, name, f.String())
					}
					continue
				}
				walk(f, p)
			}
		case reflect.Slice:
			for i := 0; i < v.Len(); i++ {
				walk(v.Index(i), fmt.Sprintf("%s[%d]", path, i))
			}
		case reflect.Map:
			keys := v.MapKeys()
			names := make([]string, len(keys))
			for i, k := range keys {
				names[i] = k.String()
			}
			for _, n := range sortedStrings(names) {
				walk(v.MapIndex(reflect.ValueOf(n).Convert(v.Type().Key())), join(path, n))
			}
		}
	}
	walk(reflect.ValueOf(cfg), "")
}

func isSecretFileKey(name string) bool {
	for _, k := range secretFileKeys {
		if name == k || strings.HasSuffix(name, "_"+k) {
			return true
		}
	}
	return false
}

func secretFileWarning(key, path string) string {
	st, err := os.Stat(path)
	if err != nil {
		return "" // reported where the file is used
	}
	if m := st.Mode().Perm(); m&0o077 != 0 {
		return fmt.Sprintf("secret file %s (%s) is readable by group or others (mode %04o); run: chmod 600 %s", path, key, m, path)
	}
	return ""
}

func sortedStrings(s []string) []string {
	out := append([]string(nil), s...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// inlineSecretKeys are the keys whose value is a secret itself (not the
// path of a file holding one); a key also counts when it ends in
// "_"+one of them (api_key, smtp_password).
var inlineSecretKeys = []string{"password", "key", "token", "secret", "passphrase"}

func isInlineSecretKey(name string) bool {
	for _, k := range inlineSecretKeys {
		if name == k || strings.HasSuffix(name, "_"+k) {
			return true
		}
	}
	return false
}

// InlineSecretWarnings returns one warning for every secret written in the
// config file itself (password:, key:, token: … with a value, rather than
// a *_file or an environment variable) when group or others may read that
// file. It reads the file again; nil when no file was loaded.
func (r *Result) InlineSecretWarnings() []string {
	if r == nil || r.File == "" {
		return nil
	}
	st, err := os.Stat(r.File)
	if err != nil || st.Mode().Perm()&0o077 == 0 {
		return nil
	}
	data, err := os.ReadFile(r.File)
	if err != nil {
		return nil
	}
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 {
		return nil // Load reported it
	}
	var out []string
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		if n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := join(path, k.Value)
				if v.Kind == yaml.AliasNode && v.Alias != nil {
					v = v.Alias
				}
				if v.Kind == yaml.ScalarNode && v.Tag != "!!null" && v.Value != "" && isInlineSecretKey(k.Value) {
					out = append(out, fmt.Sprintf("%s:%d: %s is a secret written in the config file, which group or others may read (mode %04o); "+
						"move it to %s_file (mode 0600) or the environment, or run: chmod 600 %s",
						r.File, k.Line, p, st.Mode().Perm(), k.Value, r.File))
					continue
				}
				walk(v, p)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				walk(c, fmt.Sprintf("%s[%d]", path, i))
			}
		}
	}
	walk(doc.Content[0], "")
	return out
}
