package physical

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseCheckpoints(t *testing.T) {
	c, err := ParseCheckpoints("backup_type = incremental\nfrom_lsn = 10\nto_lsn = 99306182\nlast_lsn = 99306266\nrecover_binlog_info = 0\n")
	if err != nil || c != (Checkpoints{BackupType: "incremental", FromLSN: 10, ToLSN: 99306182, LastLSN: 99306266}) {
		t.Fatalf("%+v, %v", c, err)
	}
	for _, bad := range []string{"backup_type = full-backuped\nfrom_lsn = 0\nto_lsn = x\nlast_lsn = 1\n", "from_lsn = 0\nto_lsn = 1\nlast_lsn = 1\n", "backup_type = full-backuped\nto_lsn = 1\nlast_lsn = 1\n"} {
		if _, err := ParseCheckpoints(bad); err == nil {
			t.Errorf("ParseCheckpoints(%q) accepted it", bad)
		}
	}
}

func TestParseBinlog(t *testing.T) {
	b, err := ParseBinlogInfo("binlog.000043\t15511\t0-3308-4348\n")
	if err != nil || b != (BinlogInfo{"binlog.000043", 15511, "0-3308-4348"}) {
		t.Fatalf("%+v, %v", b, err)
	}
	if b, err := ParseBinlogInfo(""); err != nil || b != (BinlogInfo{}) {
		t.Fatalf("empty: %+v, %v", b, err)
	}
	if _, err := ParseBinlogInfo("binlog.000043 x"); err == nil {
		t.Fatal("a line without a tab was accepted")
	}
	b, err = ParseBinlogPos("filename 'binlog.000043', position '15511', GTID of the last change '0-3308-4348'")
	if err != nil || b != (BinlogInfo{"binlog.000043", 15511, "0-3308-4348"}) {
		t.Fatalf("binlog_pos: %+v, %v", b, err)
	}
	if b, err := ParseBinlogPos("filename 'mysql-bin.000002', position '4'"); err != nil || b != (BinlogInfo{"mysql-bin.000002", 4, ""}) {
		t.Fatalf("binlog_pos without GTID: %+v, %v", b, err)
	}
}

// Both the 10.11 names (xtrabackup_*) and the later ones (mariadb_backup_*)
// are read; the binlog position falls back to the info file's binlog_pos.
func TestReadInfoBothNames(t *testing.T) {
	for _, prefix := range []string{"xtrabackup_", "mariadb_backup_"} {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, prefix+"checkpoints"), []byte("backup_type = full-backuped\nfrom_lsn = 0\nto_lsn = 5\nlast_lsn = 6\n"), 0o600)
		os.WriteFile(filepath.Join(dir, prefix+"info"), []byte("tool_version = 10.11.19-MariaDB\nserver_version = 10.11.19-MariaDB-log\nbinlog_pos = filename 'b.000001', position '77', GTID of the last change '0-1-2'\n"), 0o600)
		in, err := ReadInfo(dir)
		if err != nil || in.ToLSN != 5 || in.Binlog != (BinlogInfo{"b.000001", 77, "0-1-2"}) || in.ToolVersion != "10.11.19-MariaDB" {
			t.Fatalf("%s: %+v, %v", prefix, in, err)
		}
	}
	if _, err := ReadInfo(t.TempDir()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("no checkpoints: %v", err)
	}
}

func TestCheckVersion(t *testing.T) {
	v, err := ParseToolVersion("mariadb-backup based on MariaDB server 10.11.19-MariaDB Linux (x86_64)\n")
	if err != nil || v != "10.11.19-MariaDB" {
		t.Fatalf("%q, %v", v, err)
	}
	if err := CheckVersion(v, "10.11.19-MariaDB-0+deb12u1-log"); err != nil {
		t.Fatal(err)
	}
	for _, srv := range []string{"10.11.18-MariaDB", "11.4.2-MariaDB", "10.11.190-MariaDB", ""} {
		if err := CheckVersion(v, srv); !errors.Is(err, ErrVersionMismatch) {
			t.Errorf("tool %s, server %q: %v", v, srv, err)
		}
	}
	if _, err := ParseToolVersion("mysqldump Ver 10.19"); err == nil {
		t.Fatal("a foreign --version was accepted")
	}
}

func TestDefaultsFileQuoting(t *testing.T) {
	if got := optionQuote(`p"a\ss` + "\n"); got != `"p\"a\\ss\n"` {
		t.Fatalf("%s", got)
	}
	if strings.Contains(optionQuote("x y"), "\n") {
		t.Fatal("newline")
	}
}

func TestParseUnix(t *testing.T) {
	at, err := parseUnix("1765130000.123456")
	if err != nil || at.Unix() != 1765130000 || at.Nanosecond() != 123456000 {
		t.Fatalf("%v %v", at, err)
	}
	if _, err := parseUnix("x"); err == nil {
		t.Fatal("accepted x")
	}
}

func TestDirSizeLeavesLogsOut(t *testing.T) {
	dir := t.TempDir()
	for name, size := range map[string]int{"ibdata1": 100, "binlog.000042": 1000, "binlog.index": 10, "ibtmp1": 1000, "mysql-relay-bin.000001": 1000} {
		os.WriteFile(filepath.Join(dir, name), make([]byte, size), 0o600)
	}
	os.Mkdir(filepath.Join(dir, "app"), 0o700)
	os.WriteFile(filepath.Join(dir, "app", "t.ibd"), make([]byte, 50), 0o600)
	if n := dirSize(dir); n != 150 {
		t.Fatalf("dirSize = %d, want 150", n)
	}
}

func TestReplicaInfo(t *testing.T) {
	dir := t.TempDir()
	if got, err := ReplicaInfo(dir); got != "" || err != nil {
		t.Fatalf("no file: %q %v", got, err)
	}
	stmt := "CHANGE MASTER TO MASTER_LOG_FILE='binlog.000008', MASTER_LOG_POS=4112327;"
	if err := os.WriteFile(filepath.Join(dir, "xtrabackup_slave_info"), []byte(stmt+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := ReplicaInfo(dir); got != stmt || err != nil {
		t.Fatalf("10.11's name: %q %v", got, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "mariadb_backup_slave_info"), []byte(strings.Repeat("x", 5000)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReplicaInfo(dir); err == nil || !strings.Contains(err.Error(), "mariadb_backup_slave_info is 5000 bytes") {
		t.Fatalf("an oversized file (the later name first): %v", err)
	}
}
