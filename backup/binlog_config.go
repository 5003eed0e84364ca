package backup

import (
	"time"

	"github.com/opsteam/ops/internal/fielderr"
)

// BinlogConfig is a job's `binlog:` section: continuous archiving of the
// server's binary log for point-in-time recovery.
type BinlogConfig struct {
	// Enabled makes `ops serve` run the archiver of the job continuously.
	// `ops backup binlog --job NAME` runs it whatever this says.
	Enabled bool `yaml:"enabled"`
	// FlushInterval bounds how long an archived event waits before it is
	// stored (the recovery point objective, plus the end of its
	// transaction and the upload): a chunk is closed at every rotation of
	// the server's log and at the first transaction boundary once
	// FlushInterval has passed since the previous chunk was closed, so a
	// commit after a quiet time is stored at once and there is at most one
	// chunk per interval besides rotations.
	FlushInterval time.Duration `yaml:"flush_interval"`
}

// DefaultFlushInterval is the flush_interval of a job that sets none (applied
// once, by DefaultJob): it bounds how long an archived event waits before it
// is stored, the recovery point objective of the archive.
const DefaultFlushInterval = time.Minute

// Bounds of BinlogConfig.FlushInterval.
const (
	MinFlushInterval = time.Second
	MaxFlushInterval = time.Hour
)

// Validate checks the section; path is its key path.
func (b *BinlogConfig) Validate(path string) error {
	if b.FlushInterval < MinFlushInterval || b.FlushInterval > MaxFlushInterval {
		return fielderr.Newf(path+".flush_interval", "%s is out of range: expected %s to %s (leave it out for %s)", b.FlushInterval, MinFlushInterval, "1h", "1m")
	}
	return nil
}
