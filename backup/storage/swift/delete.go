package swift

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ncw/swift/v2"
)

func swiftDedupe(in []string) []string {
	sort.Strings(in)
	out := in[:0]
	for i, v := range in {
		if i == 0 || v != in[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// oldSegments returns the segments of the SLO currently stored under name,
// so that they can be deleted once a new version replaces it.
func (s *Store) oldSegments(ctx context.Context, name string) []string {
	segs, _, err := s.manifestSegments(ctx, name)
	if err != nil && !swiftIsNotFound(err) {
		s.log.Warn("swift: cannot read the object being replaced; its segments may stay behind until prune", "object", name, "err", s.scrub(err))
	}
	return segs
}

func (s *Store) deleteReplaced(ctx context.Context, name string, old []string) {
	if len(old) == 0 {
		return
	}
	cctx, cancel := swiftCleanupCtx(ctx)
	defer cancel()
	if err := s.deletePaths(cctx, old); err != nil {
		s.log.Warn("swift: could not delete the segments of the replaced object; prune removes them later", "object", name, "err", s.scrub(err))
	}
}

// manifestSegments returns the segment paths ("container/object") of the
// SLO under name (none for a plain object) and whether it exists; a missing
// object gives a 404 error.
func (s *Store) manifestSegments(ctx context.Context, name string) ([]string, bool, error) {
	var h swift.Headers
	err := s.retry(ctx, "head "+name, func() error {
		var err error
		_, h, err = s.call(ctx, swift.RequestOpts{Container: s.container, ObjectName: name, Operation: "HEAD", NoResponse: true})
		if swiftIsNotFound(err) {
			return backoffStop{err}
		}
		return err
	})
	if err != nil {
		return nil, false, unwrapStop(err)
	}
	if !strings.EqualFold(h["X-Static-Large-Object"], "true") {
		return nil, true, nil
	}
	var list []struct {
		Name string `json:"name"`
	}
	err = s.retry(ctx, "get manifest "+name, func() error {
		resp, _, err := s.call(ctx, swift.RequestOpts{Container: s.container, ObjectName: name, Operation: "GET",
			Parameters: url.Values{"multipart-manifest": {"get"}}})
		if swiftIsNotFound(err) {
			return backoffStop{err}
		}
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		list = nil
		return json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&list)
	})
	if err != nil {
		return nil, false, fmt.Errorf("reading the manifest of %s: %w", name, unwrapStop(err))
	}
	out := make([]string, 0, len(list))
	for _, e := range list {
		out = append(out, strings.TrimPrefix(e.Name, "/"))
	}
	return out, true, nil
}

// Delete implements storage.Store. For a Static Large Object the segments go first
// and the manifest last, like Swift's multipart-manifest=delete: an
// interrupted Delete leaves the object listed, so that repeating it (or the
// next prune) finishes the job, and never leaves unreferenced segments.
func (s *Store) Delete(ctx context.Context, names ...string) error {
	for _, name := range names {
		segs, exists, err := s.manifestSegments(ctx, name)
		if swiftIsNotFound(err) || (err == nil && !exists) {
			continue
		}
		if err != nil {
			return fmt.Errorf("swift: deleting %s: %w", name, err)
		}
		if err := s.deletePaths(ctx, segs); err != nil {
			return fmt.Errorf("swift: deleting %s: segments: %w", name, err)
		}
		if err := s.deleteMany(ctx, s.container, []string{name}); err != nil {
			return fmt.Errorf("swift: deleting %s: %w", name, err)
		}
	}
	return nil
}

// deletePaths deletes "container/object" paths.
func (s *Store) deletePaths(ctx context.Context, paths []string) error {
	by := map[string][]string{}
	var order []string
	for _, p := range paths {
		c, o, ok := strings.Cut(p, "/")
		if !ok || o == "" {
			return fmt.Errorf("invalid segment path %q", p)
		}
		if _, seen := by[c]; !seen {
			order = append(order, c)
		}
		by[c] = append(by[c], o)
	}
	for _, c := range order {
		if err := s.deleteMany(ctx, c, by[c]); err != nil {
			return err
		}
	}
	return nil
}

// deleteMany deletes objects of one container; missing ones are fine. It
// uses bulk delete when the server advertises it, else parallel DELETEs.
func (s *Store) deleteMany(ctx context.Context, container string, names []string) error {
	if s.limits.BulkDelete && len(names) > 1 {
		for len(names) > 0 {
			n := min(len(names), s.limits.MaxDeletesPerRequest)
			if err := s.bulkDelete(ctx, container, names[:n]); err != nil {
				return err
			}
			names = names[n:]
		}
		return nil
	}
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
		next     = make(chan string)
	)
	for range min(s.opts.Concurrency, len(names)) {
		wg.Go(func() {
			for name := range next {
				err := s.retry(ctx, "delete "+container+"/"+name, func() error {
					_, _, err := s.call(ctx, swift.RequestOpts{Container: container, ObjectName: name, Operation: "DELETE", NoResponse: true})
					if swiftIsNotFound(err) {
						return nil
					}
					return err
				})
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("deleting %s/%s: %w", container, name, err)
					}
					mu.Unlock()
				}
			}
		})
	}
	for _, n := range names {
		next <- n
	}
	close(next)
	wg.Wait()
	return firstErr
}

func (s *Store) bulkDelete(ctx context.Context, container string, names []string) error {
	var body bytes.Buffer
	for _, n := range names {
		body.WriteString((&url.URL{Path: "/" + container + "/" + n}).EscapedPath())
		body.WriteByte('\n')
	}
	data := body.Bytes()
	return s.retry(ctx, "bulk delete in "+container, func() error {
		resp, _, err := s.call(ctx, swift.RequestOpts{Operation: "DELETE", Parameters: url.Values{"bulk-delete": {"1"}},
			Headers: swift.Headers{"Accept": "application/json", "Content-Type": "text/plain", "Content-Length": strconv.Itoa(len(data))},
			Body:    bytes.NewReader(data)})
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var res struct {
			Status string     `json:"Response Status"`
			Body   string     `json:"Response Body"`
			Errors [][]string `json:"Errors"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
			return fmt.Errorf("bulk delete: reading the response: %w", err)
		}
		var bad []string
		for _, e := range res.Errors {
			if len(e) == 2 && !strings.HasPrefix(e[1], "404") {
				bad = append(bad, e[0]+": "+e[1])
			}
		}
		code, _, _ := strings.Cut(res.Status, " ")
		status, _ := strconv.Atoi(code)
		if len(bad) > 0 {
			return &swiftStatusError{status: status, err: fmt.Errorf("bulk delete: %s", strings.Join(bad, "; "))}
		}
		if len(res.Errors) == 0 && status != 0 && (status < 200 || status > 299) && status != 404 {
			return &swiftStatusError{status: status, err: fmt.Errorf("bulk delete: %s %s", res.Status, res.Body)}
		}
		return nil
	})
}

// Orphans implements Orphans: the segment sets under "<container>_segments/
// <prefix>" whose upload id no live manifest references and whose newest
// segment is older than olderThan (an upload still running keeps writing
// segments). Names are "<container>_segments/<object>/<upload id>/".
// Only segment names of this store's own scheme are considered.
func (s *Store) Orphans(ctx context.Context, prefix string, olderThan time.Duration) ([]string, error) {
	objs, err := s.listObjects(ctx, s.segContainer, prefix)
	if err != nil {
		return nil, fmt.Errorf("swift: listing %s: %w", s.segContainer, err)
	}
	type set struct {
		name, uid string
		newest    time.Time
	}
	sets := map[string]*set{}
	for _, o := range objs {
		name, uid, ok := splitSegmentName(o.Name)
		if !ok {
			continue
		}
		key := name + "/" + uid + "/"
		st := sets[key]
		if st == nil {
			st = &set{name: name, uid: uid}
			sets[key] = st
		}
		if o.LastModified.After(st.newest) {
			st.newest = o.LastModified
		}
	}
	cutoff := time.Now().Add(-olderThan)
	live := map[string]map[string]bool{}
	var out []string
	for key, st := range sets {
		if !st.newest.Before(cutoff) {
			continue
		}
		uids, ok := live[st.name]
		if !ok {
			if uids, err = s.liveUploads(ctx, st.name); err != nil {
				return nil, err
			}
			live[st.name] = uids
		}
		if !uids[st.uid] {
			out = append(out, s.segContainer+"/"+key)
		}
	}
	sort.Strings(out)
	return out, nil
}

// splitSegmentName parses "<name>/<upload id>/<%08d>".
func splitSegmentName(seg string) (name, uid string, ok bool) {
	i := strings.LastIndexByte(seg, '/')
	if i <= 0 || !segmentIndexRE.MatchString(seg[i+1:]) {
		return "", "", false
	}
	j := strings.LastIndexByte(seg[:i], '/')
	if j <= 0 || !uploadIDRE.MatchString(seg[j+1:i]) {
		return "", "", false
	}
	return seg[:j], seg[j+1 : i], true
}

// liveUploads returns the upload ids the manifest under name references.
func (s *Store) liveUploads(ctx context.Context, name string) (map[string]bool, error) {
	segs, _, err := s.manifestSegments(ctx, name)
	if err != nil && !swiftIsNotFound(err) {
		return nil, fmt.Errorf("swift: checking %s: %w", name, err)
	}
	uids := map[string]bool{}
	for _, p := range segs {
		if c, o, _ := strings.Cut(p, "/"); c == s.segContainer {
			if n, uid, ok := splitSegmentName(o); ok && n == name {
				uids[uid] = true
			}
		}
	}
	return uids, nil
}

// DeleteOrphans implements storage.Orphans. Each set is checked again against the
// live manifest first, so an upload that completed since Orphans listed it
// is kept.
func (s *Store) DeleteOrphans(ctx context.Context, names []string) error {
	for _, n := range names {
		rest, ok := strings.CutPrefix(n, s.segContainer+"/")
		name, uid, ok2 := splitSegmentName(strings.TrimSuffix(rest, "/") + "/00000000")
		if !ok || !ok2 || !strings.HasSuffix(rest, "/") {
			return fmt.Errorf("swift: %q is not an orphan name of this store", n)
		}
		uids, err := s.liveUploads(ctx, name)
		if err != nil {
			return err
		}
		if uids[uid] {
			s.log.Info("swift: segments are referenced again, kept", "segments", n)
			continue
		}
		segs, err := s.listNames(ctx, s.segContainer, rest)
		if err != nil {
			return fmt.Errorf("swift: listing %s: %w", n, err)
		}
		if err := s.deleteMany(ctx, s.segContainer, segs); err != nil {
			return fmt.Errorf("swift: deleting %s: %w", n, err)
		}
		s.log.Info("swift: deleted orphaned segments", "segments", n, "count", len(segs))
	}
	return nil
}
