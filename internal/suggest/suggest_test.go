package suggest

import (
	"reflect"
	"testing"
)

func TestClosest(t *testing.T) {
	cands := []string{"mysql_backups", "mysql_backups_segments", "logs", "MySQL_Backup", "photos"}
	cases := []struct {
		name string
		want []string
	}{
		{"mysql_backup", []string{"MySQL_Backup", "mysql_backups"}},
		{"mysql-backups", []string{"mysql_backups", "MySQL_Backup"}},
		{"log", []string{"logs"}},
		{"xyz", []string{}},
		{"mysql_backups", []string{"MySQL_Backup", "mysql_backups_segments"}},
	}
	for _, tc := range cases {
		if got := Closest(tc.name, cands, 2); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Closest(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestHint(t *testing.T) {
	for in, want := range map[string]string{
		"":    "",
		"a":   ` (did you mean "a"?)`,
		"a b": ` (did you mean "a" or "b"?)`,
	} {
		var names []string
		for _, r := range in {
			if r != ' ' {
				names = append(names, string(r))
			}
		}
		if got := Hint(names); got != want {
			t.Errorf("Hint(%q) = %q, want %q", names, got, want)
		}
	}
	if d := Distance("kitten", "sitting"); d != 3 {
		t.Errorf("Distance = %d", d)
	}
}

func TestDidYouMean(t *testing.T) {
	valid := []string{"hosts", "vms", "firewalls"}
	for in, want := range map[string]string{
		"vm":       ` (did you mean "vms"?)`,
		"Hosts":    ` (did you mean "hosts"?)`,
		"firewall": ` (did you mean "firewalls"?)`,
		"zzz":      "",
		"hosts":    "",
	} {
		if got := DidYouMean(in, valid); got != want {
			t.Errorf("DidYouMean(%q) = %q, want %q", in, got, want)
		}
	}
}
