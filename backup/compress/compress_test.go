package compress

import (
	"bytes"
	"strings"
	"testing"
)

func TestCodecsConcatenate(t *testing.T) {
	for _, m := range []Method{Zstd, Gzip, None} {
		c, err := m.NewCodec(0, 2)
		if err != nil {
			t.Fatal(err)
		}
		var stream []byte
		var want strings.Builder
		for i := range 5 {
			part := strings.Repeat("INSERT INTO t VALUES (1);\n", 100*(i+1))
			want.WriteString(part)
			if stream, err = c.Compress(stream, []byte(part)); err != nil {
				t.Fatal(err)
			}
		}
		c.Close()
		r, kind, closeFn, err := NewReader(bytes.NewReader(stream))
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if _, err := got.ReadFrom(r); err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		closeFn()
		if kind != m || got.String() != want.String() {
			t.Errorf("%s: detected %s, %d bytes back, want %d", m, kind, got.Len(), want.Len())
		}
	}
	if _, err := Method("lz4").NewCodec(0, 1); err == nil {
		t.Errorf("unknown codec accepted")
	}
}

func TestTable(t *testing.T) {
	for _, c := range []struct {
		in     string
		want   Method
		suffix string
	}{{"zstd", Zstd, ".zst"}, {"gzip", Gzip, ".gz"}, {"none", None, ""}} {
		m, err := Parse(c.in)
		if err != nil || m != c.want || m.Suffix() != c.suffix {
			t.Errorf("Parse(%q) = %q (suffix %q), %v; want %q (suffix %q)", c.in, m, m.Suffix(), err, c.want, c.suffix)
		}
	}
	if Method("").OrDefault() != Zstd || Method("").Suffix() != ".zst" {
		t.Error("the zero Method is not zstd")
	}
	for _, bad := range []string{"", "lz4", "ZSTD", "gz"} {
		if _, err := Parse(bad); err == nil || !strings.Contains(err.Error(), "expected zstd, gzip or none") {
			t.Errorf("Parse(%q) = %v, want an error listing the methods", bad, err)
		}
	}
	levels := []struct {
		m     Method
		level int
		ok    bool
	}{{Zstd, 0, true}, {Zstd, 22, true}, {Zstd, 23, false}, {Zstd, -1, false}, {Gzip, 9, true}, {Gzip, 10, false}, {None, 0, true}}
	for _, c := range levels {
		if err := c.m.CheckLevel(c.level); (err == nil) != c.ok {
			t.Errorf("%s level %d: %v, want ok=%v", c.m, c.level, err, c.ok)
		}
	}
	if Detect([]byte("CREATE")) != None || Detect([]byte{0x1f, 0x8b, 8, 0}) != Gzip || Detect([]byte{0x28, 0xb5, 0x2f, 0xfd}) != Zstd {
		t.Error("Detect mismatches the magic bytes")
	}
}
