package backup

import (
	"strings"
	"testing"
)

func TestLikeMatch(t *testing.T) {
	for _, tc := range []struct {
		pat, name string
		want      bool
	}{
		{`ops\_verify\_%`, "ops_verify_1234_app", true},
		{`ops\_verify\_%`, "opsXverify_1", false},
		{`app`, "app", true},
		{`app`, "app2", false},
		{`app_`, "app2", true},
		{`a%b`, "a.b", true},
		{`a.b`, "aXb", false},
	} {
		if got := likeMatch(tc.pat, tc.name); got != tc.want {
			t.Errorf("likeMatch(%q, %q) = %v", tc.pat, tc.name, got)
		}
	}
}

func TestGrantProblems(t *testing.T) {
	g := &Grants{User: "bk@127.0.0.1", global: map[string]bool{}, schema: map[string][]string{
		"SELECT": {"app"}, "SHOW VIEW": {"app"}, "TRIGGER": {"app"},
	}, tables: map[string]bool{}}
	j := &Job{Databases: []string{"app"}}
	p, mode := BackupGrantProblems(j, g)
	if len(p) != 2 || p[0] != "backup needs GRANT EVENT ON `app`.* TO 'bk'@'127.0.0.1'" ||
		!strings.HasPrefix(p[1], "backup needs GRANT SELECT ON mysql.proc") || !strings.HasPrefix(mode, "lock-free") {
		t.Errorf("problems %q, mode %s", p, mode)
	}
	g.schema["EVENT"] = []string{"a%"}
	g.tables["mysql.proc SELECT"] = true
	g.global["RELOAD"] = true
	if p, mode := BackupGrantProblems(j, g); len(p) != 0 || !strings.HasPrefix(mode, "lock ") {
		t.Errorf("problems %q, mode %s", p, mode)
	}
	j.Binlog.Enabled = true
	if p, _ := BackupGrantProblems(j, g); len(p) != 2 {
		t.Errorf("binlog: %q", p)
	}
	r := RestoreGrantProblems(j, g)
	if len(r) != 5 || !strings.Contains(r[1], "ON `ops\\_verify\\_%`.*") ||
		r[2] != "restore --until needs GRANT UPDATE, DELETE, INDEX ON `app`.* TO 'bk'@'127.0.0.1'" ||
		!strings.Contains(r[3], "GRANT BINLOG REPLAY ON *.*") || !strings.Contains(r[4], "SET USER") {
		t.Errorf("restore problems %q", r)
	}
	g.schema["UPDATE"], g.schema["DELETE"], g.schema["INDEX"] = []string{"app"}, []string{"app"}, []string{"%"}
	g.global["BINLOG REPLAY"] = true
	if r := RestoreGrantProblems(j, g); len(r) != 3 {
		t.Errorf("restore problems with the replay's grants %q", r)
	}
}
