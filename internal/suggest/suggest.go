package suggest

import (
	"fmt"
	"slices"
	"strings"
)

// Closest returns up to n of the candidates close enough to name to be a
// plausible typo of it, nearest first (ties in name order). Case is
// ignored; name itself is never suggested.
func Closest(name string, candidates []string, n int) []string {
	type scored struct {
		name string
		d    int
	}
	limit := max(len([]rune(name))/3, 2)
	lname := strings.ToLower(name)
	var hits []scored
	for _, c := range candidates {
		if c == name {
			continue
		}
		lc := strings.ToLower(c)
		d := Distance(lname, lc)
		if lc == lname || (len(lname) >= 3 && (strings.HasPrefix(lc, lname) || strings.HasPrefix(lname, lc))) {
			d = min(d, 1) // a different case, or one is the start of the other
		}
		if d <= limit {
			hits = append(hits, scored{c, d})
		}
	}
	slices.SortFunc(hits, func(a, b scored) int {
		if a.d != b.d {
			return a.d - b.d
		}
		return strings.Compare(a.name, b.name)
	})
	out := make([]string, 0, min(n, len(hits)))
	for _, h := range hits[:min(n, len(hits))] {
		out = append(out, h.name)
	}
	return out
}

// Hint is ` (did you mean "a" or "b"?)` for Closest's result, "" when it
// is empty.
func Hint(names []string) string {
	if len(names) == 0 {
		return ""
	}
	q := make([]string, len(names))
	for i, s := range names {
		q[i] = fmt.Sprintf("%q", s)
	}
	if len(q) == 1 {
		return " (did you mean " + q[0] + "?)"
	}
	return " (did you mean " + strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1] + "?)"
}

// Distance is the Levenshtein distance of a and b, in runes.
func Distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// DidYouMean is Hint for the one candidate nearest to name, "" when none is
// close enough: ` (did you mean "hosts"?)`.
func DidYouMean(name string, candidates []string) string {
	return Hint(Closest(name, candidates, 1))
}
