package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestInlineSecretWarnings(t *testing.T) {
	const doc = `storage:
  targets:
    offsite:
      type: swift
      key: s3cr3t-key
      key_file: /etc/ops/swift.key
backup:
  jobs:
    - name: app
      mysql:
        user: backup
        password: "hunter2"
        password_file: ""
        tls: {mode: verify-ca, key_file: /etc/ops/client.key}
    - name: other
      mysql:
        password: ""
        api_token: ~
notify:
  webhook: {url: "https://hooks.example", auth_token: abc}
`
	dir := t.TempDir()
	file := filepath.Join(dir, "ops.yaml")
	if err := os.WriteFile(file, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(file, 0o644); err != nil { // whatever the umask
		t.Fatal(err)
	}
	r := &Result{File: file}
	w := r.InlineSecretWarnings()
	if len(w) != 3 {
		t.Fatalf("warnings = %q", w)
	}
	for i, want := range []string{
		file + ":5: storage.targets.offsite.key is a secret written in the config file",
		file + ":12: backup.jobs[0].mysql.password is a secret",
		file + ":20: notify.webhook.auth_token is a secret",
	} {
		if !strings.HasPrefix(w[i], want) || !strings.Contains(w[i], "mode 0644") || !strings.Contains(w[i], "chmod 600 "+file) {
			t.Errorf("warning %d = %q, want it to start with %q and name the mode and the fix", i, w[i], want)
		}
		for _, v := range []string{"s3cr3t-key", "hunter2", "abc"} {
			if strings.Contains(w[i], v) {
				t.Errorf("warning %d shows the secret: %q", i, w[i])
			}
		}
	}
	if !strings.Contains(w[1], "password_file") {
		t.Errorf("warning 1 does not suggest password_file: %q", w[1])
	}

	// Readable by the owner only, or no file: nothing to say.
	if err := os.Chmod(file, 0o600); err != nil {
		t.Fatal(err)
	}
	if w := r.InlineSecretWarnings(); len(w) != 0 {
		t.Errorf("0600 file: warnings = %q", w)
	}
	if w := (&Result{}).InlineSecretWarnings(); w != nil {
		t.Errorf("no file: %q", w)
	}
	// Group-readable is enough.
	if err := os.Chmod(file, 0o640); err != nil {
		t.Fatal(err)
	}
	if w := r.InlineSecretWarnings(); len(w) != 3 {
		t.Errorf("0640 file: warnings = %q", w)
	}
}

// TestInlineSecretWarningsAfterLoad: the warnings of a file loaded by Load.
func TestInlineSecretWarningsAfterLoad(t *testing.T) {
	type target struct {
		Key     string `yaml:"key"`
		KeyFile string `yaml:"key_file"`
	}
	var cfg struct {
		Targets map[string]target `yaml:"targets"`
	}
	file := filepath.Join(t.TempDir(), "ops.yaml")
	if err := os.WriteFile(file, []byte("targets:\n  a:\n    key: k\n  b:\n    key_file: /x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(file, 0o644)
	res, err := Load(Options{File: file, EnvPrefix: "OPS"}, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	w := res.InlineSecretWarnings()
	if len(w) != 1 || !strings.HasPrefix(w[0], file+":3: targets.a.key ") {
		t.Errorf("warnings = %q", w)
	}
}
