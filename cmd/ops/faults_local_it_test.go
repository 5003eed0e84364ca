package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// tmpfs mounts a tmpfs of the given size on a new directory (unmounted at
// the end); the test bed runs as root.
func tmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "fs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs (the integration tests run as root): %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", dir, err, out)
		}
	})
	return dir
}

// A local target on a full disk (a 2 MiB tmpfs, a 5.9 MB backup): exit 3
// naming the device error, nothing listed, and the partial file removed (a
// small backup fits afterwards). The same file system remounted read-only:
// exit 3, nothing more listed.
func TestFaultLocalDiskFullAndReadOnlyIT(t *testing.T) {
	_, sock, big := faultSource(t, "full", faultRows)
	_, _, small := faultSource(t, "small", 10)
	fs := tmpfs(t, "2m")
	target := "      type: local\n      path: " + fs + "/b\n"
	cfgBig := faultConfig(t, target, faultJobYAML(sock), "{}", big, "")
	code, out, stderr := runOps(t, "--config", cfgBig, "backup", "run")
	if code != 3 || !strings.Contains(stderr, "no space left on device") {
		t.Fatalf("backup onto a full disk: exit %d (want 3, no space left on device)\n%s\n%s", code, out, stderr)
	}
	if l := faultList(t, cfgBig); len(l) != 0 {
		t.Fatalf("listed after a full disk: %+v", l)
	}
	cfgSmall := faultConfig(t, target, faultJobYAML(sock), "{}", small, "")
	if code, out, stderr := runOps(t, "--config", cfgSmall, "backup", "run"); code != 0 {
		t.Fatalf("a small backup after the failed one (its partial file should be gone): exit %d\n%s\n%s", code, out, stderr)
	}
	if out, err := exec.Command("mount", "-o", "remount,ro", fs).CombinedOutput(); err != nil {
		t.Fatalf("remount ro: %v\n%s", err, out)
	}
	code, out, stderr = runOps(t, "--config", cfgSmall, "backup", "run", "--no-prune")
	if code != 3 || !strings.Contains(stderr, "read-only file system") {
		t.Fatalf("backup onto a read-only file system: exit %d (want 3, read-only file system)\n%s\n%s", code, out, stderr)
	}
	if l := faultList(t, cfgSmall); len(l) != 1 {
		t.Fatalf("listed after the read-only failure: %+v (want the one small backup)", l)
	}
}
