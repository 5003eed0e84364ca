package backup

import "github.com/opsteam/ops/backup/catalog"

// keepChains keeps physical chains whole after the retention rules
// decided: every base a kept incremental builds on (and its base, down to
// the full) is kept too, with the reason "base of ID". A full is thus never
// pruned while an incremental on it is kept, and an incremental is pruned
// only with every later one of its chain. Decisions are newest first, so
// a kept incremental is seen before its bases.
func keepChains(ds []Decision, byID map[string]*catalog.BackupInfo) {
	idx := make(map[string]int, len(ds))
	for i, d := range ds {
		idx[d.ID] = i
	}
	for i := range ds {
		if !ds[i].Keep {
			continue
		}
		for cur := ds[i].ID; ; {
			b := byID[cur]
			if b == nil || b.ManifestData() == nil || b.ManifestData().KindOf() != catalog.KindIncremental {
				break
			}
			base := b.ManifestData().Base
			j, ok := idx[base]
			if !ok {
				break // the base is gone or not complete: nothing left to keep
			}
			if !ds[j].Keep {
				ds[j].Keep = true
				ds[j].Reasons = append(ds[j].Reasons, "base of "+cur)
			}
			cur = base
		}
	}
}
