package swift

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/opsteam/ops/backup/storage"
)

// A read-only open of a missing container creates nothing and names the
// closest existing containers; of an existing one it works without its
// segment container.
func TestReadOnlyOpen(t *testing.T) {
	e := newSwiftTest(t, swtSetup{}) // creates swtContainer and its segment container
	o := e.store.opts
	o.ReadOnly = true
	o.Container = swtContainer + "x"
	_, err := New(context.Background(), o)
	var me *storage.MissingError
	if !errors.As(err, &me) || !errors.Is(err, storage.ErrMissing) || me.Kind != "swift container" || me.Name != swtContainer+"x" {
		t.Fatalf("missing container: %v", err)
	}
	if want := []string{swtContainer}; !reflect.DeepEqual(me.Suggestions, want) {
		t.Errorf("suggestions %q, want %q", me.Suggestions, want)
	}
	names, err := e.conn.ContainerNamesAll(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(names, []string{swtContainer, swtContainer + "_segments"}) {
		t.Errorf("containers after a read-only open: %q", names)
	}
	if err := e.conn.ContainerDelete(context.Background(), swtContainer+"_segments"); err != nil {
		t.Fatal(err)
	}
	o.Container = swtContainer
	s, err := New(context.Background(), o)
	if err != nil {
		t.Fatalf("existing container without segments: %v", err)
	}
	if _, err := s.List(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
}
