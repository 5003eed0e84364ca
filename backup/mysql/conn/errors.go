package conn

import (
	"errors"

	gomysql "github.com/go-sql-driver/mysql"
)

func IsAccessDenied(err error) bool {
	n := ErrNo(err)
	return n == 1227 || n == 1044 || n == 1045 || n == 1142
}

func ErrNo(err error) uint16 {
	var me *gomysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

// ErrLockWaitTimeout is returned (wrapped) when the global read lock could
// not be taken within MySQL.LockWaitTimeout.
var ErrLockWaitTimeout = errors.New("lock wait timeout exceeded")
