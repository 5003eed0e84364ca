package physical

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// Checkpoints is mariadb-backup's checkpoints file: the LSN range a backup
// covers. An incremental's FromLSN is its base's ToLSN.
type Checkpoints struct {
	BackupType string // full-backuped, incremental, full-prepared, log-applied
	FromLSN    uint64
	ToLSN      uint64
	LastLSN    uint64
}

// BinlogInfo is the binary log position (and GTID) the copy is consistent
// at: the binlog info file's "FILE<TAB>POS[<TAB>GTID]".
type BinlogInfo struct {
	File string
	Pos  uint64
	GTID string
}

// The info files, under the names mariadb-backup 10.11 writes and the ones
// later releases write (tried in this order).
var (
	checkpointNames = []string{"mariadb_backup_checkpoints", "xtrabackup_checkpoints"}
	binlogNames     = []string{"mariadb_backup_binlog_info", "xtrabackup_binlog_info"}
	infoNames       = []string{"mariadb_backup_info", "xtrabackup_info"}
	slaveInfoNames  = []string{"mariadb_backup_slave_info", "xtrabackup_slave_info"}
)

// ParseCheckpoints reads a checkpoints file's "key = value" lines.
func ParseCheckpoints(text string) (Checkpoints, error) {
	var c Checkpoints
	kv := parseKV(text)
	c.BackupType = kv["backup_type"]
	for _, f := range []struct {
		key string
		dst *uint64
	}{{"from_lsn", &c.FromLSN}, {"to_lsn", &c.ToLSN}, {"last_lsn", &c.LastLSN}} {
		v, ok := kv[f.key]
		if !ok {
			return c, fmt.Errorf("checkpoints: no %s line", f.key)
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return c, fmt.Errorf("checkpoints: %s = %q: expected a number", f.key, v)
		}
		*f.dst = n
	}
	if c.BackupType == "" {
		return c, errors.New("checkpoints: no backup_type line")
	}
	return c, nil
}

// ParseBinlogInfo reads a binlog info file; an empty file (the server has
// no binary log) is the zero BinlogInfo.
func ParseBinlogInfo(text string) (BinlogInfo, error) {
	line := strings.TrimSpace(text)
	if line == "" {
		return BinlogInfo{}, nil
	}
	f := strings.Split(strings.SplitN(line, "\n", 2)[0], "\t")
	if len(f) < 2 {
		return BinlogInfo{}, fmt.Errorf("binlog info %q: expected FILE<TAB>POSITION[<TAB>GTID]", line)
	}
	pos, err := strconv.ParseUint(strings.TrimSpace(f[1]), 10, 64)
	if err != nil {
		return BinlogInfo{}, fmt.Errorf("binlog info %q: position %q is not a number", line, f[1])
	}
	b := BinlogInfo{File: strings.TrimSpace(f[0]), Pos: pos}
	if len(f) > 2 {
		b.GTID = strings.TrimSpace(f[2])
	}
	return b, nil
}

var binlogPosRE = regexp.MustCompile(`^filename '([^']*)', position '([0-9]+)'(?:, GTID of the last change '([^']*)')?`)

// ParseBinlogPos reads the binlog_pos line of the info file ("filename
// 'binlog.000043', position '15511', GTID of the last change '0-1-5'"):
// with --extra-lsndir it is where the position is, the binlog info file
// being only in the stream.
func ParseBinlogPos(v string) (BinlogInfo, error) {
	m := binlogPosRE.FindStringSubmatch(v)
	if m == nil {
		return BinlogInfo{}, fmt.Errorf("info file: binlog_pos = %q: expected filename '…', position '…'[, GTID of the last change '…']", v)
	}
	pos, err := strconv.ParseUint(m[2], 10, 64)
	if err != nil {
		return BinlogInfo{}, fmt.Errorf("info file: binlog_pos = %q: %w", v, err)
	}
	return BinlogInfo{File: m[1], Pos: pos, GTID: m[3]}, nil
}

// parseKV reads "key = value" lines (the checkpoints and info files).
func parseKV(text string) map[string]string {
	kv := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if ok {
			kv[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return kv
}

// Info is what a backup's info files say.
type Info struct {
	Checkpoints
	Binlog        BinlogInfo
	ToolVersion   string // tool_version of the info file
	ServerVersion string // server_version of the info file
}

// readFirst reads the first of names that exists in dir.
func readFirst(dir string, names []string) (string, string, error) {
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", n, err
		}
		return string(b), n, nil
	}
	return "", "", fmt.Errorf("none of %s in %s: %w", strings.Join(names, ", "), dir, fs.ErrNotExist)
}

// ReadInfo reads the info files mariadb-backup left in dir (its
// --extra-lsndir, or an extracted backup): the checkpoints are required, the
// binlog info and the info file are read when present.
func ReadInfo(dir string) (Info, error) {
	var in Info
	text, name, err := readFirst(dir, checkpointNames)
	if err != nil {
		return in, fmt.Errorf("reading the backup's checkpoints: %w", err)
	}
	if in.Checkpoints, err = ParseCheckpoints(text); err != nil {
		return in, fmt.Errorf("%s: %w", filepath.Join(dir, name), err)
	}
	if text, name, err = readFirst(dir, binlogNames); err == nil {
		if in.Binlog, err = ParseBinlogInfo(text); err != nil {
			return in, fmt.Errorf("%s: %w", filepath.Join(dir, name), err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return in, err
	}
	if text, _, err = readFirst(dir, infoNames); err == nil {
		kv := parseKV(text)
		in.ToolVersion, in.ServerVersion = kv["tool_version"], kv["server_version"]
		if in.Binlog.File == "" && kv["binlog_pos"] != "" {
			if in.Binlog, err = ParseBinlogPos(kv["binlog_pos"]); err != nil {
				return in, err
			}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return in, err
	}
	return in, nil
}

// ReplicaInfo returns what --slave-info wrote in a restored data directory
// (the statements that make a new replica start where the backed-up
// replica was); "" when there is none.
func ReplicaInfo(dir string) (string, error) {
	text, name, err := readFirst(dir, slaveInfoNames)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err == nil && len(text) > 4096 { // a statement or two: anything longer is not mariadb-backup's
		return "", fmt.Errorf("%s is %d bytes: expected the CHANGE MASTER statement mariadb-backup writes", filepath.Join(dir, name), len(text))
	}
	return strings.TrimSpace(text), err
}

// ParseToolVersion finds the server version mariadb-backup --version says
// it is built from ("... based on MariaDB server 10.11.19-MariaDB Linux").
func ParseToolVersion(out string) (string, error) {
	const marker = "MariaDB server "
	i := strings.Index(out, marker)
	if i < 0 {
		return "", fmt.Errorf("%q: expected \"… based on MariaDB server X.Y.Z…\"", strings.TrimSpace(out))
	}
	f := strings.Fields(out[i+len(marker):])
	if len(f) == 0 {
		return "", fmt.Errorf("%q: no version after %q", strings.TrimSpace(out), marker)
	}
	return f[0], nil
}

// release is the X.Y.Z at the start of a version string
// ("10.11.19-MariaDB-0+deb12u1-log" → "10.11.19").
func release(v string) string {
	end := 0
	dots := 0
	for end < len(v) {
		c := v[end]
		if c == '.' {
			dots++
			if dots == 3 {
				break
			}
		} else if c < '0' || c > '9' {
			break
		}
		end++
	}
	return strings.TrimSuffix(v[:end], ".")
}

// CheckVersion refuses a mariadb-backup built from another release than
// the server's: InnoDB's redo log format changes between releases, and a
// mismatched tool can copy a backup that does not prepare.
func CheckVersion(tool, server string) error {
	t, s := release(tool), release(server)
	if t == "" || s == "" || t != s {
		return fmt.Errorf("mariadb-backup is version %s, the server %s: they must be the same release (install the server's mariadb-backup package or set physical.binary): %w", tool, server, ErrVersionMismatch)
	}
	return nil
}

// ErrVersionMismatch is matched by the error of a mariadb-backup whose
// release differs from the server's.
var ErrVersionMismatch = errors.New("mariadb-backup does not match the server")
