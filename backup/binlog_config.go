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
	// FlushInterval is how long events may stay in the open chunk: a chunk
	// is closed and stored at every binary log rotation and at least this
	// often (at the first transaction boundary after it). It bounds the
	// recovery point objective.
	FlushInterval time.Duration `yaml:"flush_interval"`
}

// DefaultFlushInterval is BinlogConfig.FlushInterval when not set.
const DefaultFlushInterval = time.Minute

// Bounds of BinlogConfig.FlushInterval.
const (
	MinFlushInterval = time.Second
	MaxFlushInterval = time.Hour
)

// Validate checks the section; path is its key path.
func (b *BinlogConfig) Validate(path string) error {
	if b.FlushInterval != 0 && (b.FlushInterval < MinFlushInterval || b.FlushInterval > MaxFlushInterval) {
		return fielderr.Newf(path+".flush_interval", "%s is out of range: expected %s to %s", b.FlushInterval, MinFlushInterval, "1h")
	}
	return nil
}

// flushInterval is FlushInterval or its default.
func (b *BinlogConfig) flushInterval() time.Duration {
	if b.FlushInterval > 0 {
		return b.FlushInterval
	}
	return DefaultFlushInterval
}
