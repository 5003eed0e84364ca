package mem

import (
	"testing"

	"github.com/opsteam/ops/backup/storage"
	"github.com/opsteam/ops/backup/storage/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(*testing.T) storage.Store { return New() }, storagetest.Options{})
}
