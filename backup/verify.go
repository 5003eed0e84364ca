package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/opsteam/ops/backup/catalog"
	"github.com/opsteam/ops/backup/storage"
)

// VerifyResult is the outcome of checking a backup's objects.
type VerifyResult struct {
	Backup   *catalog.BackupInfo
	Problems []string // empty when every checksum matched
}

// OK reports whether the backup verified.
func (v *VerifyResult) OK() bool { return len(v.Problems) == 0 }

// VerifyBackup re-reads the stored stream and checks its size and SHA-256
// (and every segment's) against the manifest.
func VerifyBackup(ctx context.Context, s storage.Store, b *catalog.BackupInfo) (*VerifyResult, error) {
	m := b.ManifestData()
	if m == nil {
		return nil, fmt.Errorf("backup %s is partial (no manifest)", b.ID)
	}
	res := &VerifyResult{Backup: b}
	rc, err := s.Open(ctx, m.Object.Name)
	if err != nil {
		if errors.Is(err, storage.ErrNotExist) {
			res.Problems = append(res.Problems, fmt.Sprintf("%s: missing", m.Object.Name))
			return res, nil
		}
		return nil, err
	}
	defer rc.Close()
	whole := sha256.New()
	var segs *segmentHasher
	if len(m.Object.Segments) > 0 {
		segs = &segmentHasher{segs: m.Object.Segments}
	}
	var w io.Writer = whole
	if segs != nil {
		w = io.MultiWriter(whole, segs)
	}
	n, err := io.Copy(w, storage.ContextReader(ctx, rc))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", m.Object.Name, err)
	}
	if n != m.Object.Size {
		res.Problems = append(res.Problems, fmt.Sprintf("%s: size %d, manifest says %d", m.Object.Name, n, m.Object.Size))
	}
	if got := hex.EncodeToString(whole.Sum(nil)); got != m.StreamSHA256 {
		res.Problems = append(res.Problems, fmt.Sprintf("%s: SHA-256 %s, manifest says %s", m.Object.Name, got, m.StreamSHA256))
	}
	if segs != nil {
		res.Problems = append(res.Problems, segs.finish()...)
	}
	return res, nil
}

// segmentHasher checks each segment's SHA-256 as the stream goes by.
type segmentHasher struct {
	segs     []storage.Segment
	i        int
	left     int64
	h        hash.Hash
	problems []string
}

func (s *segmentHasher) Write(p []byte) (int, error) {
	total := len(p)
	for len(p) > 0 && s.i < len(s.segs) {
		if s.h == nil {
			s.h, s.left = sha256.New(), s.segs[s.i].Size
		}
		k := int(min(int64(len(p)), s.left))
		s.h.Write(p[:k])
		s.left -= int64(k)
		p = p[k:]
		if s.left == 0 {
			s.check()
		}
	}
	return total, nil
}

func (s *segmentHasher) check() {
	seg := s.segs[s.i]
	if got := hex.EncodeToString(s.h.Sum(nil)); got != seg.SHA256 {
		s.problems = append(s.problems, fmt.Sprintf("segment %s: SHA-256 %s, manifest says %s", seg.Name, got, seg.SHA256))
	}
	s.i++
	s.h = nil
}

func (s *segmentHasher) finish() []string {
	if s.h != nil && s.i < len(s.segs) {
		s.problems = append(s.problems, fmt.Sprintf("segment %s: truncated", s.segs[s.i].Name))
	}
	return s.problems
}
