package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// runOps runs one ops command line in-process.
func runOps(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ops.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestVersion(t *testing.T) {
	code, out, _ := runOps(t, "version")
	if code != 0 || !strings.HasPrefix(out, "ops ") || !strings.Contains(out, "go1.") {
		t.Fatalf("code=%d out=%q", code, out)
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{{"frobnicate"}, {"version", "extra"}, {"--no-such-flag", "version"}, {"config", "check", "--log-level", "loud"}} {
		code, _, stderr := runOps(t, args...)
		if code != 2 || stderr == "" || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%v: code=%d stderr=%q", args, code, stderr)
		}
	}
}

// The five broken configs of the closing note: each yields exactly one line
// naming the file and line (or variable) and what was expected, and exit 2.
func TestConfigCheckBrokenConfigs(t *testing.T) {
	cases := []struct{ name, body, want string }{
		{"typo", "backup:\n  jobs:\n    - name: app\n      thraeds: 4\n",
			`:4: unknown key "backup.jobs[0].thraeds" (did you mean "backup.jobs[0].threads"?)`},
		{"wrong type", "tlscheck:\n  timeout: soon\n",
			`:2: tlscheck.timeout: expected a duration such as 30s, 5m or 1h, got "soon"`},
		{"out of range", "backup:\n  jobs:\n    - name: app\n      threads: 0\n",
			`:4: backup.jobs[0].threads: 0 is out of range: expected 1 to 64`},
		{"flush interval zero", "backup:\n  jobs:\n    - name: app\n      binlog: {enabled: true, flush_interval: 0s}\n",
			`backup.jobs[0].binlog.flush_interval: 0s is out of range: expected 1s to 1h (leave it out for 1m)`},
		{"bad yaml", "storage:\n  targets:\n    offsite: {type: swift\n",
			`: invalid YAML: `},
		{"unknown target", "backup:\n  jobs:\n    - name: app\n      target: offsite\n",
			`:4: backup.jobs[0].target: no storage target named "offsite" (define it under storage.targets)`},
		{"bad enum", "storage:\n  targets:\n    offsite: {type: ftp, container: c}\n",
			`:3: storage.targets.offsite.type: "ftp": expected swift, s3 or local`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := writeConfig(t, c.body)
			code, stdout, stderr := runOps(t, "--config", p, "config", "check")
			if code != 2 {
				t.Fatalf("code = %d, stderr %q", code, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout = %q", stdout)
			}
			line := strings.TrimSuffix(stderr, "\n")
			if strings.Contains(line, "\n") || !strings.HasPrefix(line, p) || !strings.Contains(line, c.want) {
				t.Fatalf("stderr = %q, want one line %q…%q", stderr, p, c.want)
			}
		})
	}
}

func TestConfigCheckOK(t *testing.T) {
	p := writeConfig(t, "backup:\n  jobs:\n    - name: app\n")
	code, out, stderr := runOps(t, "--config", p, "config", "check")
	if code != 0 || !strings.Contains(out, "ok: "+p) {
		t.Fatalf("code=%d out=%q err=%q", code, out, stderr)
	}
}

func TestConfigShowRedactsSecrets(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "swift.key")
	if err := os.WriteFile(keyFile, []byte("filekey\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := writeConfig(t, "storage:\n  targets:\n    offsite: {type: swift, container: c, key_file: "+keyFile+"}\n")
	t.Setenv("OPS_STORAGE_TARGETS_OFFSITE_KEY", "hunter2-swift")
	t.Setenv("OPS_BACKUP_JOBS_0_NAME", "app")
	t.Setenv("OPS_BACKUP_JOBS_0_MYSQL_PASSWORD", "hunter2-mysql")
	code, out, stderr := runOps(t, "--config", p, "config", "show")
	if code != 0 {
		t.Fatalf("code=%d stderr=%q", code, stderr)
	}
	if strings.Contains(out+stderr, "hunter2") {
		t.Fatalf("secret printed:\n%s\n%s", out, stderr)
	}
	if strings.Count(out, `'***'`) != 2 {
		t.Errorf("expected two redacted secrets:\n%s", out)
	}
	if !strings.Contains(stderr, "secret file "+keyFile) || !strings.Contains(stderr, "0644") {
		t.Errorf("no warning for the world-readable key file: %q", stderr)
	}
}

func TestServeDryRunListsJobs(t *testing.T) {
	p := writeConfig(t, `backup:
  jobs:
    - name: app
      schedule: "CRON_TZ=UTC 30 2 * * *"
    - name: manual
tlscheck:
  checks:
    - {name: partners, targets: [mx.example.net], schedule: "@hourly"}
`)
	code, out, stderr := runOps(t, "--config", p, "serve", "--dry-run")
	if code != 0 {
		t.Fatalf("code=%d stderr=%q", code, stderr)
	}
	for _, want := range []string{"backup", "app", "CRON_TZ=UTC 30 2 * * *", "02:30", "manual", "not scheduled", "tlscheck", "partners", "@hourly"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}
	bad := writeConfig(t, "backup:\n  jobs:\n    - name: app\n      schedule: \"61 * * * *\"\n")
	code, _, stderr = runOps(t, "--config", bad, "serve", "--dry-run")
	if code != 2 || !strings.Contains(stderr, bad+":4: backup.jobs[0].schedule") {
		t.Fatalf("bad schedule: code=%d stderr=%q", code, stderr)
	}
}

// The example config documents every key: it must stay valid.
func TestExampleConfigIsValid(t *testing.T) {
	code, out, stderr := runOps(t, "--config", "../../configs/ops.example.yaml", "config", "check")
	// Valid: exit 0, or 1 only because the files it names (/etc/ops/...)
	// do not exist on this machine.
	if code == 1 {
		for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
			if !strings.Contains(l, ": cannot read /etc/ops/") {
				t.Errorf("not a missing file: %s", l)
			}
		}
	} else if code != 0 {
		t.Fatalf("code=%d out=%q stderr=%q", code, out, stderr)
	}
}

// Every key of the config structs is documented in the example config.
func TestExampleConfigDocumentsEveryKey(t *testing.T) {
	data, err := os.ReadFile("../../configs/ops.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	var walk func(t reflect.Type, path string, out *[]string)
	walk = func(typ reflect.Type, path string, out *[]string) {
		for typ.Kind() == reflect.Slice || typ.Kind() == reflect.Map {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || typ.PkgPath() == "github.com/opsteam/ops/internal/secret" {
			return
		}
		for i := 0; i < typ.NumField(); i++ {
			name, _, _ := strings.Cut(typ.Field(i).Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			*out = append(*out, path+name)
			walk(typ.Field(i).Type, path+name+".", out)
		}
	}
	var keys []string
	walk(reflect.TypeOf(Config{}), "", &keys)
	for _, k := range keys {
		leaf := k[strings.LastIndex(k, ".")+1:]
		if !regexp.MustCompile(`(^|[\s{,#(])` + regexp.QuoteMeta(leaf) + `:`).MatchString(text) {
			t.Errorf("configs/ops.example.yaml does not mention %s", k)
		}
	}
}

func TestQuietConfigCheck(t *testing.T) {
	cfg := writeConfig(t, "log: {level: info}\n")
	code, out, stderr := runOps(t, "--config", cfg, "-q", "config", "check")
	if code != 0 || out != "" || stderr != "" {
		t.Fatalf("code %d stdout %q stderr %q", code, out, stderr)
	}
	bad := writeConfig(t, "log: {levle: info}\n")
	code, out, stderr = runOps(t, "--config", bad, "--quiet", "config", "check")
	if code != 2 || out != "" || strings.Count(stderr, "\n") != 1 {
		t.Fatalf("code %d stdout %q stderr %q", code, out, stderr)
	}
}
