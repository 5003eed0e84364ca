package strictyaml

import (
	"errors"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestParse(t *testing.T) {
	for _, in := range []string{"", "# nothing\n", "~\n", "---\n", "a: 1\n---\n", "a: 1\n--- ~\n"} {
		root, err := Parse("f.yaml", []byte(in), "a test file")
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if want := in == "a: 1\n---\n" || in == "a: 1\n--- ~\n"; (root != nil) != want {
			t.Errorf("%q: root = %v", in, root)
		}
	}
	root, err := Parse("f.yaml", []byte("base: &b {x: 1}\nuse: *b\n"), "a test file")
	if err != nil || root.Kind != yaml.MappingNode || Resolve(root.Content[3]).Kind != yaml.MappingNode {
		t.Fatalf("alias: %v, %+v", err, root)
	}
	root, err = Parse("f.yaml", []byte("*a\n"), "a test file")
	if err == nil {
		t.Fatalf("unknown anchor at the root: %+v", root)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"syntax", "a:\n  - b\n  c\n", `f.yaml:3: invalid YAML: could not find expected ':'`},
		{"control character", "a: 1\nb: \"x\x07\"\n", `f.yaml:2: invalid YAML: control characters are not allowed`},
		{"invalid UTF-8", "a: 1\n\nb: \xff\n", `f.yaml:3: invalid YAML: invalid leading UTF-8 octet`},
		{"bad UTF-8 in a tag escape", "a: 1\nb: !%80 x\n", `f.yaml:2: invalid YAML: found an incorrect leading UTF-8 octet`},
		{"unknown anchor", "a: 1\nb:\n  - *x\n", `f.yaml:3: invalid YAML: unknown anchor 'x' referenced`},
		{"first line", "%YAML 2.0\n---\na: 1\n", `f.yaml:1: invalid YAML: found incompatible YAML document`},
		{"second document", "a: 1\n---\nb: 2\n", `f.yaml:2: a second YAML document starts here; a test file is one document`},
		{"broken second document", "a: 1\n---\nb: [\n", `f.yaml:3: invalid YAML: did not find expected node content`},
	} {
		_, err := Parse("f.yaml", []byte(tc.in), "a test file")
		var se *Error
		if !errors.As(err, &se) || err.Error() != tc.want {
			t.Errorf("%s: err = %v (%T)\nwant %s", tc.name, err, err, tc.want)
		}
	}
}

func TestKindName(t *testing.T) {
	root, err := Parse("f.yaml", []byte("[{a: 1}, [], ~, true, 5, 1.5, text, '5']\n"), "a test file")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a mapping", "a list", "null", "a boolean (true)", "an integer (5)", "a number (1.5)", `"text"`, `"5"`}
	for i, n := range root.Content {
		if got := KindName(n); got != want[i] {
			t.Errorf("item %d: %s, want %s", i, got, want[i])
		}
	}
	if got := (&Error{File: "f.yaml", Msg: "m"}).Error(); got != "f.yaml: m" {
		t.Errorf("no line: %q", got)
	}
}
