package inventory

import (
	"context"
	"strings"
	"unicode"
	"unicode/utf8"
)

// nameIndex finds records by name, anywhere or within one source, in
// constant time. The merge of declared records into a report, Evaluate and
// Check look every declared record up among the discovered ones: a scan per
// lookup made them quadratic (200,000 declared VMs ran for more than ten
// minutes).
//
// find returns the first record added under the name, which is what a scan
// of the records in order returns.
type nameIndex struct {
	fold  bool           // names compare like strings.EqualFold (hosts, firewalls)
	any   map[string]int // name → first record
	inSrc map[srcName]int
}

type srcName struct{ source, name string }

func newNameIndex(fold bool, size int) *nameIndex {
	return &nameIndex{fold: fold, any: make(map[string]int, size), inSrc: make(map[srcName]int, size)}
}

func (x *nameIndex) key(name string) string {
	if x.fold {
		return foldKey(name)
	}
	return name
}

// add records that record i has this source and name (the first one added
// under a name wins).
func (x *nameIndex) add(i int, source, name string) {
	k := x.key(name)
	if _, ok := x.any[k]; !ok {
		x.any[k] = i
	}
	if _, ok := x.inSrc[srcName{source, k}]; !ok {
		x.inSrc[srcName{source, k}] = i
	}
}

// find returns the first record named name, in source unless source is "".
func (x *nameIndex) find(name, source string) (int, bool) {
	k := x.key(name)
	var i int
	var ok bool
	if source == "" {
		i, ok = x.any[k]
	} else {
		i, ok = x.inSrc[srcName{source, k}]
	}
	if !ok {
		return -1, false
	}
	return i, true
}

// foldKey maps s to a key that is equal for two strings exactly when
// strings.EqualFold says they are equal: every rune becomes the smallest
// rune of its Unicode simple-folding orbit (so "k", "K" and the Kelvin sign
// U+212A share a key; for ASCII that is the upper-case letter).
func foldKey(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToUpper(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		m := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			m = min(m, f)
		}
		b.WriteRune(m)
	}
	return b.String()
}

// ctxEvery is how many records a loop handles between two looks at its
// context: often enough to stop within milliseconds, rarely enough to cost
// nothing.
const ctxEvery = 1024

// stopped returns ctx's error every ctxEvery-th iteration i, once ctx is done.
func stopped(ctx context.Context, i int) error {
	if i%ctxEvery != 0 {
		return nil
	}
	return ctx.Err()
}
