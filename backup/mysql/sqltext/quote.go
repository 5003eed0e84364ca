package sqltext

import (
	"fmt"
	"strconv"
	"strings"
)

// ValueKind says how a column's text value is written into SQL.
type ValueKind uint8

const (
	KindString ValueKind = iota // quoted and escaped
	KindNumber                  // copied verbatim (integers, DECIMAL, FLOAT, DOUBLE, YEAR)
	KindBinary                  // 0x… hex (binary charset: BINARY, VARBINARY, BLOB, BIT, GEOMETRY)
)

// KindOf maps the driver's DatabaseTypeName (which encodes charsetnr 63 as
// BINARY/VARBINARY/…BLOB) onto a valueKind.
func KindOf(dbType string) ValueKind {
	t := strings.TrimPrefix(dbType, "UNSIGNED ")
	switch t {
	case "TINYINT", "SMALLINT", "MEDIUMINT", "INT", "BIGINT", "DECIMAL", "FLOAT", "DOUBLE", "YEAR":
		return KindNumber
	case "BINARY", "VARBINARY", "TINYBLOB", "BLOB", "MEDIUMBLOB", "LONGBLOB", "BIT", "GEOMETRY", "VECTOR":
		return KindBinary
	default: // CHAR, VARCHAR, TEXT…, ENUM, SET, JSON, DATE, TIME, DATETIME, TIMESTAMP, NULL, MariaDB UUID/INET6…
		return KindString
	}
}

const hexDigits = "0123456789ABCDEF"

// AppendValue appends the SQL literal for a raw value of the given kind.
// nil means SQL NULL; an empty non-nil value is an empty string (” — also
// for binary columns, so empty and NULL stay distinct).
func AppendValue(b []byte, v []byte, null bool, k ValueKind) []byte {
	if null {
		return append(b, "NULL"...)
	}
	switch k {
	case KindNumber:
		if len(v) == 0 {
			return append(b, "''"...)
		}
		return append(b, v...)
	case KindBinary:
		if len(v) == 0 {
			return append(b, "''"...)
		}
		b = append(b, '0', 'x')
		for _, c := range v {
			b = append(b, hexDigits[c>>4], hexDigits[c&15])
		}
		return b
	default:
		return appendQuoted(b, v)
	}
}

var needsEscape = [256]bool{0: true, '\n': true, '\r': true, '\\': true, '\'': true, '"': true, 0x1a: true}

// appendQuoted appends v as a single-quoted string literal with the escapes
// of mysql_real_escape_string (safe for utf8mb4: no multi-byte sequence
// contains an ASCII byte).
func appendQuoted(b []byte, v []byte) []byte {
	b = append(b, '\'')
	start := 0
	for i, c := range v {
		if !needsEscape[c] {
			continue
		}
		var esc byte
		switch c {
		case 0:
			esc = '0'
		case '\n':
			esc = 'n'
		case '\r':
			esc = 'r'
		case '\\':
			esc = '\\'
		case '\'':
			esc = '\''
		case '"':
			esc = '"'
		case 0x1a:
			esc = 'Z'
		default:
			continue
		}
		b = append(b, v[start:i]...)
		b = append(b, '\\', esc)
		start = i + 1
	}
	b = append(b, v[start:]...)
	return append(b, '\'')
}

// QuoteString returns s as a quoted SQL string literal.
func QuoteString(s string) string { return string(appendQuoted(nil, []byte(s))) }

// QuoteIdent quotes an identifier with backticks.
func QuoteIdent(s string) string {
	return "`" + strings.ReplaceAll(s, "`", "``") + "`"
}

// AppendDriverValue appends a value as returned by the driver's text rows
// (the driver turns integer and floating columns into Go numbers; they are
// formatted back exactly: shortest round-trip representation).
func AppendDriverValue(b []byte, v any, k ValueKind) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "NULL"...), nil
	case []byte:
		return AppendValue(b, x, false, k), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case uint64:
		return strconv.AppendUint(b, x, 10), nil
	case float64:
		return strconv.AppendFloat(b, x, 'g', -1, 64), nil
	case float32:
		return strconv.AppendFloat(b, float64(x), 'g', -1, 32), nil
	case string:
		return AppendValue(b, []byte(x), false, k), nil
	default:
		return b, fmt.Errorf("unexpected value type %T from the driver", v)
	}
}
