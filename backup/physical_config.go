package backup

import (
	"github.com/opsteam/ops/backup/catalog"
	"github.com/opsteam/ops/internal/fielderr"
)

// The backup methods of a job.
const (
	MethodLogical  = catalog.MethodLogical
	MethodPhysical = catalog.MethodPhysical
)

// DefaultFullEvery is physical.full_every when the config sets none.
const DefaultFullEvery = 7

// PhysicalConfig is a job's `physical:` section (method: physical).
type PhysicalConfig struct {
	// Incremental: later runs back up the pages changed since the previous
	// backup of the chain.
	Incremental bool `yaml:"incremental"`
	// FullEvery bounds a chain: one full, then at most FullEvery-1
	// incrementals.
	FullEvery int `yaml:"full_every"`
	// Binary is mariadb-backup; its version must match the server's.
	Binary string `yaml:"binary"`
	// ForceFull makes the next run a full backup (`ops backup run --full`;
	// not a config key).
	ForceFull bool `yaml:"-"`
}

// IsPhysical reports whether the job backs up with mariadb-backup.
func (j *Job) IsPhysical() bool { return j.Method == MethodPhysical }

// validateMethod checks method and physical: a physical job backs up the
// whole server, so databases and exclude_tables are errors with it.
func (j *Job) validateMethod(path string) error {
	switch j.Method {
	case "", MethodLogical:
		return nil
	case MethodPhysical:
	default:
		return fielderr.Newf(path+".method", "%q: expected logical or physical", j.Method)
	}
	if len(j.Databases) > 0 {
		return fielderr.New(path+".databases", "a physical backup copies the whole server: databases cannot be chosen (remove databases, or use method: logical)")
	}
	if len(j.ExcludeTables) > 0 {
		return fielderr.New(path+".exclude_tables", "a physical backup copies the whole server: tables cannot be excluded (remove exclude_tables, or use method: logical)")
	}
	if j.Physical.FullEvery < 1 {
		return fielderr.Newf(path+".physical.full_every", "%d: expected 1 or more (backups per chain, the full one included)", j.Physical.FullEvery)
	}
	if j.Physical.Binary == "" {
		return fielderr.New(path+".physical.binary", "empty: expected mariadb-backup or its path")
	}
	return nil
}
