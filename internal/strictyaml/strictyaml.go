package strictyaml

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Error is a problem in a YAML file: "FILE:LINE: MSG" (Line 0: unknown).
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return e.File + ":" + strconv.Itoa(e.Line) + ": " + e.Msg
	}
	return e.File + ": " + e.Msg
}

// Parse parses data, the content of file, as one YAML document and returns
// its root node with aliases resolved, or nil when the document is empty or
// null. what names the document in the error about a second one ("a
// declared inventory"). Every error is an *Error with a line.
func Parse(file string, data []byte, what string) (*yaml.Node, error) {
	var doc yaml.Node
	yd := yaml.NewDecoder(bytes.NewReader(data))
	if err := yd.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, syntaxError(file, data, err)
	}
	for {
		var next yaml.Node
		err := yd.Decode(&next)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, syntaxError(file, data, err)
		}
		if len(next.Content) > 0 && !IsNull(next.Content[0]) {
			return nil, &Error{File: file, Line: next.Line, Msg: "a second YAML document starts here; " + what + " is one document"}
		}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, nil
	}
	root := Resolve(doc.Content[0])
	if IsNull(root) {
		return nil, nil
	}
	return root, nil
}

// syntaxError locates a yaml.v3 error: "invalid YAML: …" at its line.
func syntaxError(file string, data []byte, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, tail, ok := strings.Cut(rest, ": "); ok {
			if line, e := strconv.Atoi(n); e == nil {
				return &Error{File: file, Line: line, Msg: "invalid YAML: " + tail}
			}
		}
	}
	// yaml.v3 gives no line for a problem of its reader (a byte that is not
	// allowed), for an unknown anchor, and for a problem on the first line.
	line := 1
	switch {
	case strings.Contains(msg, "control characters") || strings.Contains(msg, "UTF-8") || strings.Contains(msg, "UTF-16"):
		line = badCharLine(data)
		if line == 0 && strings.Contains(msg, "UTF-8") {
			// The bytes are fine: a tag's %XX escape decodes to bad UTF-8.
			line = max(lineOf(data, "%"), 1)
		}
	case strings.HasPrefix(msg, "unknown anchor '"):
		anchor, _, _ := strings.Cut(strings.TrimPrefix(msg, "unknown anchor '"), "'")
		line = lineOf(data, "*"+anchor)
	}
	return &Error{File: file, Line: line, Msg: "invalid YAML: " + msg}
}

// badCharLine returns the line of the first byte sequence that YAML does not
// allow in a UTF-8 file (invalid UTF-8, control characters other than tab,
// CR and LF, surrogates, U+FFFE, U+FFFF), or 0 (a UTF-16 file, or none).
func badCharLine(data []byte) int {
	if bytes.HasPrefix(data, []byte{0xfe, 0xff}) || bytes.HasPrefix(data, []byte{0xff, 0xfe}) {
		return 0
	}
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		ok := r == '\t' || r == '\n' || r == '\r' || r >= 0x20 && r <= 0x7e || r == 0x85 ||
			r >= 0xa0 && r <= 0xd7ff || r >= 0xe000 && r <= 0xfffd || r >= 0x10000 && r <= 0x10ffff
		if !ok || r == utf8.RuneError && size == 1 {
			return 1 + bytes.Count(data[:i], []byte{'\n'})
		}
		i += size
	}
	return 0
}

// lineOf returns the line of the first occurrence of s in data, or 0.
func lineOf(data []byte, s string) int {
	i := bytes.Index(data, []byte(s))
	if i < 0 {
		return 0
	}
	return 1 + bytes.Count(data[:i], []byte{'\n'})
}

// Resolve follows aliases to the node they name.
func Resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// IsNull reports whether n is a null scalar ("~", "null" or nothing).
func IsNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// KindName says what n is, for "expected …, got KindName" messages: "a
// mapping", "a list", "null", "a boolean (true)", "an integer (5)", "a
// number (1.5)", or the quoted text of any other scalar.
func KindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return "null"
		case "!!bool":
			return "a boolean (" + n.Value + ")"
		case "!!int":
			return "an integer (" + n.Value + ")"
		case "!!float":
			return "a number (" + n.Value + ")"
		}
		return strconv.Quote(n.Value)
	}
	return "an unsupported node"
}
