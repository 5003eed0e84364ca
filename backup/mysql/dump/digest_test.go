package dump

import (
	"strings"
	"testing"
)

// The digest of a part is the sum of its rows' hashes: any split of the
// rows into parts, in any order, adds up to the same value, and one
// changed, missing or extra row changes it.
func TestDigestIsOrderFreeAndSensitive(t *testing.T) {
	rows := []string{"(1,'a',NULL)", "(2,'b',0x00)", "(3,'c','x\\'y')", "(4,'d',1.5)"}
	sum := func(rs ...string) uint64 {
		var s uint64
		for _, r := range rs {
			s += rowHash([]byte(r))
		}
		return s
	}
	parts := func(split [][]string) uint64 { // partWriter sums, then the table tally adds
		var total uint64
		for _, p := range split {
			w := &partWriter{d: &Dumper{stmtCap: 1 << 20}, head: "INSERT INTO t VALUES ", digest: true}
			for _, r := range p {
				if err := w.add([]byte(r)); err != nil {
					t.Fatal(err)
				}
			}
			total += w.sum
		}
		return total
	}
	whole := sum(rows...)
	if got := parts([][]string{{rows[3], rows[1]}, {rows[0]}, {rows[2]}}); got != whole {
		t.Errorf("parts in another order: %x, want %x", got, whole)
	}
	for name, other := range map[string]uint64{
		"changed": sum("(1,'a',NULL)", "(2,'b',0x01)", rows[2], rows[3]),
		"missing": sum(rows[:3]...),
		"extra":   sum(append(rows, "(5,'e',NULL)")...),
		"moved":   sum("(1,'b',NULL)", "(2,'a',0x00)", rows[2], rows[3]),
	} {
		if other == whole {
			t.Errorf("%s row: same digest", name)
		}
	}
	d := formatDigest(whole)
	if !strings.HasPrefix(d, DigestPrefix) || len(d) != len(DigestPrefix)+16 {
		t.Errorf("digest %q", d)
	}
	if v, err := ParseDigest(d); err != nil || v != whole {
		t.Errorf("ParseDigest(%q) = %x, %v", d, v, err)
	}
	for _, bad := range []string{"", "xxh64sum:12", "crc:0000000000000000", "xxh64sum:zzzzzzzzzzzzzzzz"} {
		if _, err := ParseDigest(bad); err == nil {
			t.Errorf("ParseDigest(%q) accepted", bad)
		}
	}
}
