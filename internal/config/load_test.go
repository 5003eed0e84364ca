package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/opsteam/ops/internal/bytesize"
	"github.com/opsteam/ops/internal/fielderr"
	"github.com/opsteam/ops/internal/secret"
)

type testTarget struct {
	Type    string        `yaml:"type"`
	Path    string        `yaml:"path,omitempty"`
	Key     secret.Secret `yaml:"key,omitempty"`
	Segment bytesize.Size `yaml:"segment_size,omitempty"`
}

type testJob struct {
	Name    string        `yaml:"name"`
	Threads int           `yaml:"threads"`
	DBs     []string      `yaml:"databases"`
	Wait    time.Duration `yaml:"lock_wait"`
	MySQL   struct {
		Host string `yaml:"host"`
		Port int    `yaml:"port"`
	} `yaml:"mysql"`
}

type testConfig struct {
	Log struct {
		Level string `yaml:"level"`
	} `yaml:"log"`
	Storage struct {
		Targets map[string]testTarget `yaml:"targets"`
	} `yaml:"storage"`
	Backup struct {
		Jobs []testJob `yaml:"jobs"`
	} `yaml:"backup"`
	Debug bool `yaml:"debug"`
}

func defaults() testConfig {
	var c testConfig
	c.Log.Level = "info"
	return c
}

func opts(t *testing.T, file string) Options {
	t.Helper()
	return Options{
		File:            file,
		EnvPrefix:       "OPS",
		Environ:         os.Environ(),
		ElementDefaults: map[string]any{"backup.jobs": testJob{Threads: 2, Wait: time.Minute}},
		MapDefaults:     map[string]any{"storage.targets": map[string]testTarget{"local": {Type: "local", Path: "./backups"}}},
	}
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ops.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const good = `log: {level: warn}
storage:
  targets:
    offsite:
      type: swift
      segment_size: 64MiB
backup:
  jobs:
    - name: app
      threads: 4
      databases: [a, b]
      mysql: {host: db1}
    - name: other-job
`

func TestLoadFileDefaultsAndElementDefaults(t *testing.T) {
	p := writeFile(t, good)
	cfg := defaults()
	res, err := Load(opts(t, p), &cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.File != p || cfg.Log.Level != "warn" {
		t.Fatalf("file not applied: %+v %q", res, cfg.Log.Level)
	}
	if got := cfg.Storage.Targets["offsite"].Segment; got != 64*bytesize.MiB {
		t.Errorf("segment_size = %v", got)
	}
	if got := cfg.Storage.Targets["local"]; got.Path != "./backups" {
		t.Errorf("built-in target lost: %+v", cfg.Storage.Targets)
	}
	if len(cfg.Backup.Jobs) != 2 {
		t.Fatalf("jobs = %+v", cfg.Backup.Jobs)
	}
	j0, j1 := cfg.Backup.Jobs[0], cfg.Backup.Jobs[1]
	if j0.Threads != 4 || j0.MySQL.Host != "db1" || strings.Join(j0.DBs, ",") != "a,b" || j0.Wait != time.Minute {
		t.Errorf("job 0 = %+v", j0)
	}
	if j1.Name != "other-job" || j1.Threads != 2 {
		t.Errorf("job 1 did not get element defaults: %+v", j1)
	}
	if w := res.Where("backup.jobs[0].threads"); w != p+":10" {
		t.Errorf("Where(threads) = %q", w)
	}
	if w := res.Where("backup.jobs[1].threads"); w != p+":13" { // falls back to the element's line
		t.Errorf("Where(default threads) = %q", w)
	}
}

func TestEnvOverridesEveryKind(t *testing.T) {
	p := writeFile(t, good)
	t.Setenv("OPS_LOG_LEVEL", "debug")                    // top-level nested key in the file
	t.Setenv("OPS_DEBUG", "true")                         // key the file does not mention
	t.Setenv("OPS_STORAGE_TARGETS_OFFSITE_KEY", "s3cr3t") // map entry key absent from the file
	t.Setenv("OPS_BACKUP_JOBS_0_MYSQL_PORT", "3307")      // list element by index
	t.Setenv("OPS_BACKUP_JOBS_OTHER_JOB_THREADS", "9")    // list element by name
	t.Setenv("OPS_BACKUP_JOBS_APP_DATABASES", "x,y,z")    // list of scalars
	t.Setenv("OPS_STORAGE_TARGETS_NEW_TYPE", "local")     // map entry only the environment has
	t.Setenv("OPS_STORAGE_TARGETS_NEW_PATH", "/srv/b")
	t.Setenv("OPS_BACKUP_JOBS_2_NAME", "envonly") // list element only the environment has
	cfg := defaults()
	res, err := Load(opts(t, p), &cfg)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Log.Level != "debug" || !cfg.Debug {
		t.Errorf("log.level=%q debug=%v", cfg.Log.Level, cfg.Debug)
	}
	if got := cfg.Storage.Targets["offsite"].Key.Reveal(); got != "s3cr3t" {
		t.Errorf("offsite key = %q", got)
	}
	if cfg.Storage.Targets["offsite"].Segment != 64*bytesize.MiB {
		t.Errorf("env override dropped a file value: %+v", cfg.Storage.Targets["offsite"])
	}
	if n := cfg.Storage.Targets["new"]; n.Type != "local" || n.Path != "/srv/b" {
		t.Errorf("env-only target = %+v", n)
	}
	if len(cfg.Backup.Jobs) != 3 {
		t.Fatalf("jobs = %+v", cfg.Backup.Jobs)
	}
	if j := cfg.Backup.Jobs[0]; j.MySQL.Port != 3307 || j.MySQL.Host != "db1" || strings.Join(j.DBs, ",") != "x,y,z" {
		t.Errorf("job 0 = %+v", j)
	}
	if j := cfg.Backup.Jobs[1]; j.Threads != 9 {
		t.Errorf("job by name: %+v", j)
	}
	if j := cfg.Backup.Jobs[2]; j.Name != "envonly" || j.Threads != 2 {
		t.Errorf("env-only job = %+v", j)
	}
	if w := res.Where("backup.jobs[1].threads"); w != "OPS_BACKUP_JOBS_OTHER_JOB_THREADS" {
		t.Errorf("Where = %q", w)
	}
}

func TestEnvWithoutFile(t *testing.T) {
	t.Setenv("OPS_LOG_LEVEL", "error")
	t.Setenv("OPS_STORAGE_TARGETS_LOCAL_PATH", "/var/backups/ops")
	cfg := defaults()
	o := opts(t, "")
	o.SearchPaths = []string{filepath.Join(t.TempDir(), "absent.yaml")}
	res, err := Load(o, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.File != "" || cfg.Log.Level != "error" || cfg.Storage.Targets["local"].Path != "/var/backups/ops" {
		t.Errorf("file=%q level=%q targets=%+v", res.File, cfg.Log.Level, cfg.Storage.Targets)
	}
}

func TestFlagBeatsEnvBeatsFile(t *testing.T) {
	p := writeFile(t, good)
	t.Setenv("OPS_LOG_LEVEL", "debug")
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	fs.String("log-level", "info", "")
	o := opts(t, p)
	o.Flags = map[string]*pflag.Flag{"log.level": fs.Lookup("log-level")}

	cfg := defaults()
	if _, err := Load(o, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Log.Level != "debug" {
		t.Fatalf("unset flag must not win over env: %q", cfg.Log.Level)
	}
	if err := fs.Parse([]string{"--log-level=error"}); err != nil {
		t.Fatal(err)
	}
	cfg = defaults()
	res, err := Load(o, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Log.Level != "error" || res.Where("log.level") != "--log-level" {
		t.Fatalf("flag did not win: %q %q", cfg.Log.Level, res.Where("log.level"))
	}
}

func TestConfigFileFromEnv(t *testing.T) {
	p := writeFile(t, "log: {level: warn}\n")
	t.Setenv("OPS_CONFIG", p)
	cfg := defaults()
	res, err := Load(opts(t, ""), &cfg)
	if err != nil || res.File != p || cfg.Log.Level != "warn" {
		t.Fatalf("OPS_CONFIG not honoured: %v %+v %q", err, res, cfg.Log.Level)
	}
}

func TestBadInput(t *testing.T) {
	cases := []struct {
		name, body, env, want string
	}{
		{"unknown key", "backup:\n  jobs:\n    - name: a\n      thread: 3\n", "", `:4: unknown key "backup.jobs[0].thread" (did you mean "backup.jobs[0].threads"?)`},
		{"unknown top key", "logg: {level: info}\n", "", `:1: unknown key "logg" (did you mean "log"?)`},
		{"no near key", "zzzzzzzz: 1\n", "", `:1: unknown key "zzzzzzzz" (valid keys here: log, storage, backup, debug)`},
		{"wrong type", "backup:\n  jobs:\n    - name: a\n      threads: many\n", "", `:4: backup.jobs[0].threads: expected an integer, got "many"`},
		{"list expected", "backup:\n  jobs: {name: a}\n", "", `:2: backup.jobs: expected a list, got a mapping`},
		{"bad duration", "backup:\n  jobs:\n    - lock_wait: forever\n", "", `:3: backup.jobs[0].lock_wait: expected a duration such as 30s, 5m or 1h, got "forever"`},
		{"bad size", "storage:\n  targets:\n    x: {type: swift, segment_size: 12parsecs}\n", "", `:3: storage.targets.x.segment_size: invalid size "12parsecs"`},
		{"yaml syntax", "log: {level: info\n", "", `: invalid YAML:`},
		{"duplicate key", "log: {level: info}\nlog: {level: warn}\n", "", `:2: duplicate key "log"`},
		{"not a mapping", "log: [info]\n", "", `:1: log: expected a mapping, got a list`},
		{"scalar for a mapping", "log: 3\n", "", `:1: log: expected a mapping, got an integer (3)`},
		// internal/strictyaml: the line yaml.v3 does not give, and no
		// second document silently dropped.
		{"control character", "log:\n  level: \"a\x1b[2Jb\"\n", "", `:2: invalid YAML: control characters are not allowed`},
		{"second document", "log: {level: info}\n---\nlog: {level: warn}\n", "", `:2: a second YAML document starts here; a config file is one document`},
		{"bad env", "", "OPS_BACKUP_JOBS_0_THREADS=lots", `OPS_BACKUP_JOBS_0_THREADS: backup.jobs[0].threads: expected an integer, got "lots"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := c.body
			if c.env != "" {
				k, v, _ := strings.Cut(c.env, "=")
				t.Setenv(k, v)
				body = "backup:\n  jobs:\n    - name: a\n"
			}
			p := writeFile(t, body)
			cfg := defaults()
			_, err := Load(opts(t, p), &cfg)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not contain %q", err, c.want)
			}
			if strings.Count(err.Error(), "\n") != 0 {
				t.Errorf("more than one line: %q", err)
			}
			var ce *Error
			var ces Errors
			if !errors.As(err, &ce) && !errors.As(err, &ces) {
				t.Errorf("not a config error: %T", err)
			}
		})
	}
}

func TestMissingFiles(t *testing.T) {
	cfg := defaults()
	_, err := Load(opts(t, filepath.Join(t.TempDir(), "nope.yaml")), &cfg)
	if err == nil || !strings.Contains(err.Error(), "nope.yaml: cannot read config file: no such file or directory") {
		t.Fatalf("explicit missing file: %v", err)
	}
	if os.Geteuid() != 0 { // root reads anything
		p := writeFile(t, "log: {level: info}\n")
		_ = os.Chmod(p, 0)
		if _, err := Load(opts(t, p), &cfg); err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Fatalf("unreadable file: %v", err)
		}
	}
	dir := t.TempDir()
	if _, err := Load(opts(t, dir), &cfg); err == nil || !strings.Contains(err.Error(), "cannot read config file") {
		t.Fatalf("directory as file: %v", err)
	}
}

// nearest follows internal/suggest's rule, like every "did you mean" of ops:
// case is ignored (YAML keys are not: "TARGET" is unknown, "target" meant).
func TestNearest(t *testing.T) {
	for _, c := range []struct{ key, want string }{
		{"thread", "threads"}, {"compresion", "compression"}, {"TARGET", "target"}, {"xyzzy", ""}, {"nam", "name"},
	} {
		if got := nearest(c.key, []string{"threads", "compression", "target", "name"}); got != c.want {
			t.Errorf("nearest(%q) = %q, want %q", c.key, got, c.want)
		}
	}
}

func TestSecretFileWarnings(t *testing.T) {
	dir := t.TempDir()
	loose, tight := filepath.Join(dir, "loose.pass"), filepath.Join(dir, "tight.pass")
	_ = os.WriteFile(loose, []byte("x"), 0o644)
	_ = os.WriteFile(tight, []byte("x"), 0o600)
	type my struct {
		PasswordFile string `yaml:"password_file"`
	}
	cfg := struct {
		Jobs []struct {
			MySQL my `yaml:"mysql"`
		} `yaml:"jobs"`
		Targets map[string]struct {
			KeyFile string `yaml:"key_file"`
		} `yaml:"targets"`
	}{}
	cfg.Jobs = append(cfg.Jobs, struct {
		MySQL my `yaml:"mysql"`
	}{my{loose}}, struct {
		MySQL my `yaml:"mysql"`
	}{my{tight}})
	cfg.Targets = map[string]struct {
		KeyFile string `yaml:"key_file"`
	}{"b": {loose}, "a": {tight}}
	w := SecretFileWarnings(&cfg)
	if len(w) != 2 {
		t.Fatalf("warnings = %q", w)
	}
	if !strings.Contains(w[0], loose) || !strings.Contains(w[0], "jobs[0].mysql.password_file") || !strings.Contains(w[0], "0644") {
		t.Errorf("warning 0 = %q", w[0])
	}
	if !strings.Contains(w[1], "targets.b.key_file") {
		t.Errorf("warning 1 = %q", w[1])
	}
}

// pathError is an error of another package with a key path of its own:
// not a *fielderr.Error, but a FieldPath method.
type pathError struct{ Field, Msg string }

func (e *pathError) Error() string     { return e.Field + ": " + e.Msg }
func (e *pathError) FieldPath() string { return e.Field }

// fieldOnly has a Field string but no FieldPath method: not a field error
// (encoding/json's UnmarshalTypeError has such a field, too).
type fieldOnly struct{ Field, Msg string }

func (e *fieldOnly) Error() string { return e.Field + ": " + e.Msg }

func TestLocate(t *testing.T) {
	p := writeFile(t, good)
	cfg := defaults()
	res, err := Load(opts(t, p), &cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = res.Locate(fmt.Errorf("wrapped: %w", fielderr.New("backup.jobs[0].threads", "too many")))
	if err.Error() != p+":10: wrapped: backup.jobs[0].threads: too many" {
		t.Fatalf("%v", err)
	}
	err = res.Locate(fmt.Errorf("wrapped: %w", &pathError{"backup.jobs[0].threads", "too many"}))
	if err.Error() != p+":10: wrapped: backup.jobs[0].threads: too many" {
		t.Fatalf("FieldPath method: %v", err)
	}
	err = res.Locate(errors.Join(errors.New("first"), fielderr.New("backup.jobs[0].threads", "too many")))
	if err.Error() != p+":10: first\nbackup.jobs[0].threads: too many" {
		t.Fatalf("errors.Join: %q", err)
	}
	notField := fmt.Errorf("wrapped: %w", &fieldOnly{"backup.jobs[0].threads", "too many"})
	if res.Locate(notField) != notField {
		t.Fatal("an error with a Field but no FieldPath was located")
	}
	plain := errors.New("x")
	if res.Locate(plain) != plain {
		t.Fatal("unrelated error changed")
	}
}
