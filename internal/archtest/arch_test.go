package archtest

import (
	"encoding/json"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const mod = "github.com/opsteam/ops"

type pkg struct {
	ImportPath string
	Imports    []string // direct, non-test
	Deps       []string // transitive, non-test
}

func listPackages(t *testing.T) map[string]pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports,Deps", mod+"/...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string]pkg{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs[strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, mod), "/")] = p
	}
	return pkgs
}

// under reports whether path is prefix or below it ("backup/storage" is
// under "backup/storage", "backup/storage/swift" too).
func under(path, prefix string) bool {
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

// rule: no package matching from may depend (transitively) on a package
// matching any of not, unless that package matches one of except.
type rule struct {
	from   func(string) bool
	not    []string // ops-relative prefixes, or full module paths
	except []string
	why    string
}

func is(prefixes ...string) func(string) bool {
	return func(p string) bool {
		for _, x := range prefixes {
			if under(p, x) {
				return true
			}
		}
		return false
	}
}

var (
	viper = "github.com/spf13/viper"
	cobra = "github.com/spf13/cobra"
)

var rules = []rule{
	{is("backup/mysql"), []string{"backup/storage", "cmd", "internal/config", viper, cobra}, nil,
		"the engine knows nothing of storage or config loading"},
	{is("backup/mysql/sqltext"), []string{"backup", "internal", "cmd", "github.com/go-sql-driver/mysql", "github.com/go-mysql-org/go-mysql"}, nil,
		"the one lexer reads text: no server, no project package below or beside it"},
	{is("backup/mysql/conn"), []string{"backup/mysql/schema", "backup/mysql/dump", "backup/mysql/restore", "backup/mysql/binlog", "backup/mysql/replay"}, nil,
		"reaching the server is the bottom of the engine"},
	{is("backup/mysql/schema"), []string{"backup/mysql/dump", "backup/mysql/restore", "backup/mysql/binlog", "backup/mysql/replay"}, nil,
		"reading a database's schema is below the dump and the restore"},
	{is("backup/mysql/dump"), []string{"backup/mysql/restore", "backup/mysql/binlog", "backup/mysql/replay"}, nil,
		"the dump never imports the restore (nor the binary log)"},
	{is("backup/mysql/guard"), []string{"backup/mysql/restore", "backup/mysql/dump", "backup/mysql/binlog", "backup/mysql/replay"}, nil,
		"what a restore lets through is decided below the restore, on the lexer's tokens"},
	{is("backup/mysql/restore"), []string{"backup/mysql/dump", "backup/mysql/binlog", "backup/mysql/replay"}, nil,
		"the restore never imports the dump (nor the binary log)"},
	{is("backup/mysql/binlog"), []string{"backup/mysql/dump", "backup/mysql/restore", "backup/mysql/replay", "backup/mysql/schema"}, nil,
		"reading the binary log knows nothing of dumps and restores"},
	{is("backup/mysql/replay"), []string{"backup/mysql/dump", "backup/mysql/restore", "backup/mysql/schema"}, nil,
		"the replay sits on the binary log, the connection and the lexer only"},
	{is("backup/mysql/physical"), []string{"backup/mysql/dump", "backup/mysql/restore", "backup/mysql/schema", "backup/mysql/guard", "backup/mysql/binlog", "backup/mysql/replay", "backup/catalog"}, nil,
		"the physical engine runs mariadb-backup: it knows nothing of the logical dump or restore, nor of manifests"},
	{is("backup/mysql/dump", "backup/mysql/restore", "backup/mysql/schema", "backup/mysql/guard", "backup/mysql/binlog", "backup/mysql/replay", "backup/mysql/conn", "backup/mysql/sqltext"), []string{"backup/mysql/physical"}, nil,
		"the logical engine does not know the physical one"},
	{is("backup/storage"), []string{"backup/mysql", "backup/compress", "cmd", "internal/config", viper, cobra}, nil,
		"storage knows nothing of the engine or config loading"},
	{is("backup/compress"), []string{"backup/mysql", "backup/storage", "internal", "cmd"}, nil,
		"compress is a leaf"},
	{func(p string) bool { return p == "backup/storage" }, []string{"backup/storage/"}, nil,
		"the storage contract does not know its backends"},
	{is("backup/storage/local", "backup/storage/mem", "backup/storage/retry", "backup/storage/storagetest"),
		[]string{"backup/storage/local", "backup/storage/mem", "backup/storage/swift", "backup/storage/s3", "backup/storage/backends", "backup/storage/storagetest"}, nil,
		"a backend does not import another backend"},
	{is("backup/storage/swift"), []string{"backup/storage/local", "backup/storage/mem", "backup/storage/s3", "backup/storage/backends", "backup/storage/storagetest"}, nil,
		"a backend does not import another backend (swift uses retry)"},
	{is("backup/storage/s3"), []string{"backup/storage/local", "backup/storage/mem", "backup/storage/swift", "backup/storage/backends", "backup/storage/storagetest"}, nil,
		"a backend does not import another backend (s3 uses retry)"},
	{func(p string) bool { return p == "backup" }, []string{"backup/storage/local", "backup/storage/swift", "backup/storage/s3", "backup/storage/backends", "backup/storage/mem", "cmd", "internal/config", viper, cobra}, nil,
		"the pipeline sees only storage.Store and typed options"},
	{func(p string) bool { return p == "backup" }, []string{"backup/pitr", "backup/mysql/binlog", "backup/mysql/replay"}, nil,
		"the dump pipeline never imports point-in-time recovery"},
	{is("backup/catalog"), []string{"backup", "cmd", "internal/config", viper, cobra},
		[]string{"backup/storage", "backup/compress", "backup/mysql/schema", "backup/mysql/conn", "backup/mysql/sqltext"},
		"the catalog takes a store, a prefix and a key, not a job: it imports no pipeline and no engine"},
	{is("tlscheck", "inventory"), []string{"backup", "cmd", "internal/config", viper, cobra}, nil,
		"jobs never import each other, nor config loading"},
	{is("tlscheck"), []string{"inventory"}, nil, "jobs never import each other"},
	{is("inventory"), []string{"tlscheck"}, nil, "jobs never import each other"},
	{is("internal/suggest"), []string{"backup", "tlscheck", "inventory", "cmd", "internal", viper, cobra}, nil,
		"suggest is a leaf"},
	{is("internal/strictyaml"), []string{"backup", "tlscheck", "inventory", "cmd", "internal", viper, cobra}, nil,
		"strict YAML reading is a leaf (shared by config loading and the declared inventory)"},
	{is("internal/smtpclient"), []string{"backup", "tlscheck", "inventory", "cmd", "internal", viper, cobra}, nil,
		"the SMTP client is a leaf (shared by notifications and tlscheck)"},
	{is("internal/notify"), []string{"backup", "tlscheck", "inventory", "cmd", "internal", viper, cobra},
		[]string{"internal/smtpclient", "internal/fielderr", "internal/secret"},
		"notifications know only the SMTP client, field errors and secret redaction"},
	{is("internal"), []string{"backup", "tlscheck", "inventory", "cmd", cobra}, nil,
		"shared packages do not know the jobs"},
	{is("backup", "tlscheck", "inventory"), []string{"internal/exitcode"}, nil,
		"domain packages return errors; only cmd/ops maps them to exit codes"},
	{is("backup", "cmd", "internal", "tlscheck", "inventory"), []string{"backup/backuptest", "backup/mysql/binlogfake", "backup/mysql/binlogtest", "backup/mysql/mysqltest", "backup/mysql/sqltext/sqltexttest", "backup/storage/storagetest", "internal/testenv/faults"}, nil,
		"test helpers are imported by tests only"},
}

// violations lists every dependency that breaks a rule.
func violations(pkgs map[string]pkg, rules []rule) []string {
	var out []string
	for path, p := range pkgs {
		for _, r := range rules {
			if !r.from(path) {
				continue
			}
			for _, dep := range p.Deps {
				rel := dep
				if strings.HasPrefix(dep, mod+"/") {
					rel = strings.TrimPrefix(dep, mod+"/")
				} else if !strings.Contains(dep, ".") {
					continue // standard library
				}
				for _, bad := range r.not {
					hit := under(rel, bad) && rel != path
					if strings.HasSuffix(bad, "/") {
						hit = strings.HasPrefix(rel, bad)
					}
					if hit && !slices.Contains(r.except, rel) {
						out = append(out, path+" depends on "+rel+": "+r.why)
					}
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

func TestImportRules(t *testing.T) {
	pkgs := listPackages(t)
	if len(pkgs) < 10 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	for _, v := range violations(pkgs, rules) {
		t.Error(v)
	}
}

// The rules must be able to fail: an engine that imports storage, a job
// that imports another, and storage importing its backend are reported;
// the real graph's known edges are where the rules expect them.
func TestImportRulesBite(t *testing.T) {
	fake := map[string]pkg{
		"backup/mysql":          {Deps: []string{"io", mod + "/backup/compress", mod + "/backup/storage"}},
		"tlscheck":              {Deps: []string{mod + "/inventory"}},
		"backup/storage":        {Deps: []string{mod + "/backup/storage/local"}},
		"backup":                {Deps: []string{mod + "/backup/mysql/dump", mod + "/backup/storage", mod + "/backup/compress"}},
		"cmd/ops":               {Deps: []string{mod + "/backup", mod + "/backup/mysql/binlogfake"}},
		"backup/mysql/dump":     {Deps: []string{mod + "/backup/mysql/conn", mod + "/backup/mysql/restore"}},
		"backup/mysql/sqltext":  {Deps: []string{"github.com/go-sql-driver/mysql"}},
		"backup/catalog":        {Deps: []string{mod + "/backup/storage", mod + "/backup"}},
		"backup/mysql/physical": {Deps: []string{mod + "/backup/mysql/conn", mod + "/backup/mysql/restore"}},
	}
	got := violations(fake, rules)
	want := []string{
		"backup/catalog depends on backup: the catalog takes a store, a prefix and a key, not a job: it imports no pipeline and no engine",
		"backup/mysql depends on backup/storage: the engine knows nothing of storage or config loading",
		"backup/mysql/dump depends on backup/mysql/restore: the dump never imports the restore (nor the binary log)",
		"backup/mysql/physical depends on backup/mysql/restore: the physical engine runs mariadb-backup: it knows nothing of the logical dump or restore, nor of manifests",
		"backup/mysql/sqltext depends on github.com/go-sql-driver/mysql: the one lexer reads text: no server, no project package below or beside it",
		"backup/storage depends on backup/storage/local: the storage contract does not know its backends",
		"cmd/ops depends on backup/mysql/binlogfake: test helpers are imported by tests only",
		"tlscheck depends on inventory: jobs never import each other",
	}
	if !slices.Equal(got, want) {
		t.Errorf("violations = %q\nwant %q", got, want)
	}
	pkgs := listPackages(t)
	if !slices.Contains(pkgs["backup"].Imports, mod+"/backup/mysql/dump") || !slices.Contains(pkgs["backup/mysql/dump"].Imports, mod+"/backup/mysql/sqltext") || !slices.Contains(pkgs["cmd/ops"].Deps, viper) {
		t.Fatal("the go list output is not what the rules assume (backup → backup/mysql/dump → backup/mysql/sqltext, cmd/ops → viper)")
	}
}
