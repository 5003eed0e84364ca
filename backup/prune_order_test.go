package backup

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/opsteam/ops/backup/catalog"
	"github.com/opsteam/ops/backup/storage"
)

// deleteLog is a store that records the order of deletions and can refuse
// one name.
type deleteLog struct {
	storage.Store
	order  []string
	refuse string
}

func (d *deleteLog) Delete(_ context.Context, names ...string) error {
	for _, n := range names {
		if n == d.refuse {
			return errors.New("refused")
		}
		d.order = append(d.order, n)
	}
	return nil
}

// Both prunes (backups, binlog chunks) delete through deleteManifestFirst:
// the manifest first, so an interrupted prune never leaves a listed-complete
// backup whose data is gone.
func TestDeleteManifestFirst(t *testing.T) {
	ctx := context.Background()
	objs := []string{"j/1/stream.00", "j/1/manifest.json", "j/1/stream.01"}
	s := &deleteLog{}
	got, err := catalog.DeleteManifestFirst(ctx, s, "j/1/manifest.json", objs)
	want := []string{"j/1/manifest.json", "j/1/stream.00", "j/1/stream.01"}
	if err != nil || !reflect.DeepEqual(got, want) || !reflect.DeepEqual(s.order, want) {
		t.Fatalf("deleted %q (store saw %q), %v; want %q", got, s.order, err, want)
	}
	if !reflect.DeepEqual(objs, []string{"j/1/stream.00", "j/1/manifest.json", "j/1/stream.01"}) {
		t.Errorf("the caller's list was changed: %q", objs)
	}

	// The manifest cannot be deleted: the data stays, the backup stays whole.
	s = &deleteLog{refuse: "j/1/manifest.json"}
	got, err = catalog.DeleteManifestFirst(ctx, s, "j/1/manifest.json", objs)
	if err == nil || len(got) != 0 || len(s.order) != 0 {
		t.Fatalf("manifest refused: deleted %q (store saw %q), %v", got, s.order, err)
	}
	if want := "deleting j/1/manifest.json: refused"; err.Error() != want {
		t.Errorf("err = %q, want %q", err, want)
	}

	// No manifest (a partial backup): the objects go, in their order.
	s = &deleteLog{}
	got, err = catalog.DeleteManifestFirst(ctx, s, "", []string{"b", "a"})
	if err != nil || !reflect.DeepEqual(got, []string{"b", "a"}) {
		t.Fatalf("partial: %q, %v", got, err)
	}
}
