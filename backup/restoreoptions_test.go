package backup

import (
	"testing"
	"time"

	"github.com/opsteam/ops/backup/mysql/conn"
	"github.com/opsteam/ops/backup/storage/mem"
)

// A restore takes from the job: the restore account (restore_mysql, its
// empty connection settings the mysql: section's), the job's threads and
// whether its backups must be encrypted.
func TestJobRestoreOptions(t *testing.T) {
	store := mem.New()
	j := DefaultJob()
	j.Threads = 7
	j.MySQL.Host, j.MySQL.Port, j.MySQL.User = "db.example", 3307, "backup"
	ro := j.RestoreOptions(store)
	if ro.Store != store || ro.Threads != 7 || ro.MySQL.User != "backup" || ro.MySQL.Host != "db.example" || ro.RequireEncryption {
		t.Errorf("without restore_mysql: %+v", ro)
	}
	j.RestoreMySQL.User = "restorer"
	j.EncryptTo = []string{"age1..."}
	ro = j.RestoreOptions(store)
	if ro.MySQL.User != "restorer" || ro.MySQL.Host != "db.example" || ro.MySQL.Port != 3307 ||
		ro.MySQL.LockWaitTimeout != conn.DefaultLockWaitTimeout || ro.MySQL.Timeout != conn.DefaultTimeout || !ro.RequireEncryption {
		t.Errorf("with restore_mysql: %+v", ro.MySQL)
	}
	if DefaultJob().Threads != DefaultThreads || DefaultJob().MySQL.LockWaitTimeout != 60*time.Second {
		t.Errorf("DefaultJob: threads %d, lock_wait_timeout %s", DefaultJob().Threads, DefaultJob().MySQL.LockWaitTimeout)
	}
}
