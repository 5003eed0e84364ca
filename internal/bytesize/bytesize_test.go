package bytesize

import "testing"

func TestParse(t *testing.T) {
	for in, want := range map[string]Size{
		"0": 0, "123": 123, "64MiB": 64 * MiB, "64 MiB": 64 * MiB, "1.5G": 1536 * MiB, "10MB": 10_000_000,
		"1k": KiB, "2TiB": 2 * TiB, "5gb": 5_000_000_000, "7b": 7,
	} {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "MiB", "-1", "12parsecs", "1.2.3M"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
	for _, s := range []Size{0, 1, 1023, KiB, 64 * MiB, 3 * GiB, 1500} {
		back, err := Parse(s.String())
		if err != nil || back != s {
			t.Errorf("round trip %d → %q → %d (%v)", s, s.String(), back, err)
		}
	}
	if Human(1536) != "1.5 KiB" || Human(10) != "10 B" {
		t.Errorf("Human: %s %s", Human(1536), Human(10))
	}
}
