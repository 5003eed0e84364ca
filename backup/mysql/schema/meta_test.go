package schema

import "testing"

func TestPlaceholderSelect(t *testing.T) {
	for _, tc := range []struct {
		cols []string
		want string
	}{
		{nil, "1 AS `ops_placeholder`"},
		{[]string{"id", "a`b"}, "1 AS `id`, 1 AS `a``b`"},
	} {
		v := &ViewMeta{Name: "v", Columns: tc.cols}
		if got := v.PlaceholderSelect(); got != tc.want {
			t.Errorf("PlaceholderSelect(%q) = %q, want %q", tc.cols, got, tc.want)
		}
	}
}
