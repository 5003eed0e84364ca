// Package strictyaml reads the YAML files people write by hand (ops.yaml,
// declared inventories) strictly and says where a problem is: one document
// only (yaml.Unmarshal silently drops a second one: two files concatenated,
// a stray "---"), syntax errors at FILE:LINE even where yaml.v3 names no
// line, and the words for what a node is ("a list", "an integer (5)") in
// "expected …, got …" messages.
//
// It owns parsing, not the walk: internal/config checks the tree against
// its schema collecting every error, inventory decodes it into its records
// stopping at the first; both report unknown keys with internal/suggest.
//
// strictyaml is a leaf: it imports only the standard library and yaml.v3.
package strictyaml
