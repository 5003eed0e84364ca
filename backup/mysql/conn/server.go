package conn

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// ServerInfo describes the source server.
type ServerInfo struct {
	Version   string // SELECT VERSION()
	MariaDB   bool
	Major     int
	Minor     int
	Patch     int
	MaxPacket int64
	LogBin    bool
}

var versionRE = regexp.MustCompile(`^(\d+)\.(\d+)\.(\d+)`)

func ParseVersion(v string) (maj, min, patch int) {
	m := versionRE.FindStringSubmatch(v)
	if m == nil {
		return 0, 0, 0
	}
	maj, _ = strconv.Atoi(m[1])
	min, _ = strconv.Atoi(m[2])
	patch, _ = strconv.Atoi(m[3])
	return
}

func (s ServerInfo) AtLeast(maj, min, patch int) bool {
	if s.Major != maj {
		return s.Major > maj
	}
	if s.Minor != min {
		return s.Minor > min
	}
	return s.Patch >= patch
}

// MySQL8 reports Config (not MariaDB) 8.0 or later.
func (s ServerInfo) MySQL8() bool { return !s.MariaDB && s.AtLeast(8, 0, 0) }

// CastFloat reports whether CAST(x AS DOUBLE) is available (used to read
// FLOAT columns exactly: MariaDB prints FLOAT with 6 significant digits).
func (s ServerInfo) CastFloat() bool {
	if s.MariaDB {
		return s.AtLeast(10, 4, 0)
	}
	return s.AtLeast(8, 0, 17)
}

// ExecuteImmediate reports MariaDB's EXECUTE IMMEDIATE (10.2.3+).
func (s ServerInfo) ExecuteImmediate() bool { return s.MariaDB && s.AtLeast(10, 2, 3) }

// Querier is what both *sql.Conn and *sql.DB offer.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func ReadServerInfo(ctx context.Context, q Querier) (ServerInfo, error) {
	var s ServerInfo
	var logBin sql.NullString
	row, err := QueryRows(ctx, q, "SELECT VERSION(), @@max_allowed_packet, @@log_bin")
	if err != nil {
		return s, fmt.Errorf("read server version: %w", err)
	}
	if len(row) != 1 {
		return s, fmt.Errorf("read server version: no row")
	}
	s.Version = row[0]["VERSION()"].String
	s.MaxPacket, _ = strconv.ParseInt(row[0]["@@max_allowed_packet"].String, 10, 64)
	logBin = row[0]["@@log_bin"]
	s.LogBin = logBin.String == "1" || strings.EqualFold(logBin.String, "ON")
	s.MariaDB = strings.Contains(strings.ToLower(s.Version), "mariadb")
	s.Major, s.Minor, s.Patch = ParseVersion(s.Version)
	return s, nil
}

// QueryRows runs a query and returns every row as a map from column name
// to value (NULL → Valid=false). For small metadata queries only.
func QueryRows(ctx context.Context, q Querier, query string) ([]map[string]sql.NullString, error) {
	rows, err := q.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out []map[string]sql.NullString
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		m := make(map[string]sql.NullString, len(cols))
		for i, c := range cols {
			m[c] = vals[i]
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

func Col(r map[string]sql.NullString, name string) string { return r[name].String }

// SystemDatabases are never dumped by default and never restored into.
var SystemDatabases = map[string]bool{"mysql": true, "sys": true, "information_schema": true, "performance_schema": true}
