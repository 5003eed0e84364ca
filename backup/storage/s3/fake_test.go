package s3

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeS3 is a small in-process S3 server (path style, no signature
// checks) for unit tests: buckets, objects, multipart uploads, ranged and
// conditional GETs, listings. hook, when set, sees every request first and
// may answer it (return true).
type fakeS3 struct {
	mu      sync.Mutex
	buckets map[string]map[string]*fakeObj
	uploads map[string]*fakeUpload // by id
	nextID  int
	hook    func(w http.ResponseWriter, r *http.Request) bool
	// inFlight and maxInFlight count concurrent part uploads.
	inFlight, maxInFlight int
	storageClasses        []string // x-amz-storage-class of each object or upload created
	partSizes             []int
}

type fakeObj struct {
	data     []byte
	etag     string
	modified time.Time
}

type fakeUpload struct {
	bucket, key string
	initiated   time.Time
	parts       map[int][]byte
}

func newFakeS3(t *testing.T) (*fakeS3, *httptest.Server) {
	f := &fakeS3{buckets: map[string]map[string]*fakeObj{}, uploads: map[string]*fakeUpload{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeS3) addBucket(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.buckets[name] = map[string]*fakeObj{}
}

func (f *fakeS3) object(bucket, key string) *fakeObj {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.buckets[bucket][key]
}

func (f *fakeS3) uploadCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.uploads)
}

func s3err(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<Error><Code>%s</Code><Message>%s</Message></Error>", code, code)
}

func writeXML(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/xml")
	b, _ := xml.Marshal(v)
	_, _ = w.Write(b)
}

// setHook sets hook (requests of an earlier Put may still be served).
func (f *fakeS3) setHook(h func(w http.ResponseWriter, r *http.Request) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hook = h
}

func (f *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	hook := f.hook
	f.mu.Unlock()
	if hook != nil && hook(w, r) {
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/")
	bucket, key, _ := strings.Cut(path, "/")
	if host, _, _ := strings.Cut(r.Host, ":"); strings.HasSuffix(host, ".s3.test") {
		bucket, key = strings.TrimSuffix(host, ".s3.test"), path // virtual-hosted style
	}
	q := r.URL.Query()
	if bucket == "" {
		f.listBuckets(w)
		return
	}
	f.mu.Lock()
	objs, ok := f.buckets[bucket]
	f.mu.Unlock()
	if !ok && !(r.Method == http.MethodPut && key == "") {
		if r.Method == http.MethodHead {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		s3err(w, http.StatusNotFound, "NoSuchBucket")
		return
	}
	switch {
	case key == "" && r.Method == http.MethodHead:
	case key == "" && r.Method == http.MethodPut:
		f.addBucket(bucket)
	case key == "" && r.Method == http.MethodGet && q.Has("uploads"):
		f.listUploads(w, bucket, q.Get("prefix"))
	case key == "" && r.Method == http.MethodGet:
		f.listObjects(w, objs, q.Get("prefix"))
	case r.Method == http.MethodPost && q.Has("uploads"):
		f.createUpload(w, r, bucket, key)
	case r.Method == http.MethodPost && q.Has("uploadId"):
		f.completeUpload(w, r, q.Get("uploadId"))
	case r.Method == http.MethodPut && q.Has("uploadId"):
		f.uploadPart(w, r, q.Get("uploadId"))
	case r.Method == http.MethodDelete && q.Has("uploadId"):
		f.mu.Lock()
		_, ok := f.uploads[q.Get("uploadId")]
		delete(f.uploads, q.Get("uploadId"))
		f.mu.Unlock()
		if !ok {
			s3err(w, http.StatusNotFound, "NoSuchUpload")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodPut:
		f.putObject(w, r, bucket, key)
	case r.Method == http.MethodDelete:
		f.mu.Lock()
		delete(objs, key)
		f.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		f.getObject(w, r, bucket, key)
	default:
		s3err(w, http.StatusNotImplemented, "NotImplemented")
	}
}

func (f *fakeS3) listBuckets(w http.ResponseWriter) {
	type b struct {
		Name         string
		CreationDate string
	}
	var res struct {
		XMLName xml.Name `xml:"ListAllMyBucketsResult"`
		Buckets []b      `xml:"Buckets>Bucket"`
	}
	f.mu.Lock()
	for n := range f.buckets {
		res.Buckets = append(res.Buckets, b{n, time.Now().UTC().Format(time.RFC3339)})
	}
	f.mu.Unlock()
	writeXML(w, res)
}

func (f *fakeS3) listObjects(w http.ResponseWriter, objs map[string]*fakeObj, prefix string) {
	type c struct {
		Key          string
		LastModified string
		ETag         string
		Size         int
	}
	var res struct {
		XMLName     xml.Name `xml:"ListBucketResult"`
		IsTruncated bool
		KeyCount    int
		Contents    []c
	}
	f.mu.Lock()
	for k, o := range objs {
		if strings.HasPrefix(k, prefix) {
			res.Contents = append(res.Contents, c{k, o.modified.UTC().Format(time.RFC3339), o.etag, len(o.data)})
		}
	}
	f.mu.Unlock()
	sort.Slice(res.Contents, func(i, j int) bool { return res.Contents[i].Key < res.Contents[j].Key })
	res.KeyCount = len(res.Contents)
	writeXML(w, res)
}

func (f *fakeS3) listUploads(w http.ResponseWriter, bucket, prefix string) {
	type u struct {
		Key, UploadId, Initiated string
	}
	var res struct {
		XMLName     xml.Name `xml:"ListMultipartUploadsResult"`
		IsTruncated bool
		Upload      []u
	}
	f.mu.Lock()
	for id, up := range f.uploads {
		if up.bucket == bucket && strings.HasPrefix(up.key, prefix) {
			res.Upload = append(res.Upload, u{up.key, id, up.initiated.UTC().Format(time.RFC3339)})
		}
	}
	f.mu.Unlock()
	writeXML(w, res)
}

// readChecked reads a body and checks its Content-MD5.
func readChecked(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		s3err(w, http.StatusBadRequest, "IncompleteBody")
		return nil, false
	}
	sum := md5.Sum(data)
	if want := r.Header.Get("Content-MD5"); want != "" && want != base64.StdEncoding.EncodeToString(sum[:]) {
		s3err(w, http.StatusBadRequest, "BadDigest")
		return nil, false
	}
	if r.Header.Get("X-Amz-Trailer") != "" || r.Header.Get("X-Amz-Sdk-Checksum-Algorithm") != "" {
		s3err(w, http.StatusBadRequest, "UnexpectedChecksumTrailer") // as Swift's s3api < 2.35.1
		return nil, false
	}
	return data, true
}

func (f *fakeS3) putObject(w http.ResponseWriter, r *http.Request, bucket, key string) {
	data, ok := readChecked(w, r)
	if !ok {
		return
	}
	sum := md5.Sum(data)
	o := &fakeObj{data: data, etag: `"` + hex.EncodeToString(sum[:]) + `"`, modified: time.Now()}
	f.mu.Lock()
	f.buckets[bucket][key] = o
	f.storageClasses = append(f.storageClasses, r.Header.Get("X-Amz-Storage-Class"))
	f.mu.Unlock()
	w.Header().Set("ETag", o.etag)
}

func (f *fakeS3) createUpload(w http.ResponseWriter, r *http.Request, bucket, key string) {
	f.mu.Lock()
	f.nextID++
	id := fmt.Sprintf("up%d", f.nextID)
	f.uploads[id] = &fakeUpload{bucket: bucket, key: key, initiated: time.Now(), parts: map[int][]byte{}}
	f.storageClasses = append(f.storageClasses, r.Header.Get("X-Amz-Storage-Class"))
	f.mu.Unlock()
	writeXML(w, struct {
		XMLName     xml.Name `xml:"InitiateMultipartUploadResult"`
		Bucket, Key string
		UploadId    string
	}{Bucket: bucket, Key: key, UploadId: id})
}

func (f *fakeS3) uploadPart(w http.ResponseWriter, r *http.Request, id string) {
	f.mu.Lock()
	f.inFlight++
	f.maxInFlight = max(f.maxInFlight, f.inFlight)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inFlight--
		f.mu.Unlock()
	}()
	data, ok := readChecked(w, r)
	if !ok {
		return
	}
	n, _ := strconv.Atoi(r.URL.Query().Get("partNumber"))
	f.mu.Lock()
	up, found := f.uploads[id]
	if found {
		up.parts[n] = data
		f.partSizes = append(f.partSizes, len(data))
	}
	f.mu.Unlock()
	if !found {
		s3err(w, http.StatusNotFound, "NoSuchUpload")
		return
	}
	sum := md5.Sum(data)
	w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:])+`"`)
}

func (f *fakeS3) completeUpload(w http.ResponseWriter, r *http.Request, id string) {
	var req struct {
		Parts []struct {
			PartNumber int
			ETag       string
		} `xml:"Part"`
	}
	if err := xml.NewDecoder(r.Body).Decode(&req); err != nil {
		s3err(w, http.StatusBadRequest, "MalformedXML")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	up, ok := f.uploads[id]
	if !ok {
		s3err(w, http.StatusNotFound, "NoSuchUpload")
		return
	}
	var all bytes.Buffer
	for i, p := range req.Parts {
		data, ok := up.parts[p.PartNumber]
		if !ok || p.PartNumber != i+1 {
			s3err(w, http.StatusBadRequest, "InvalidPart")
			return
		}
		all.Write(data)
	}
	delete(f.uploads, id)
	o := &fakeObj{data: all.Bytes(), etag: fmt.Sprintf(`"%x-%d"`, md5.Sum(all.Bytes()), len(req.Parts)), modified: time.Now()}
	f.buckets[up.bucket][up.key] = o
	writeXML(w, struct {
		XMLName xml.Name `xml:"CompleteMultipartUploadResult"`
		ETag    string
	}{ETag: o.etag})
}

func (f *fakeS3) getObject(w http.ResponseWriter, r *http.Request, bucket, key string) {
	o := f.object(bucket, key)
	if o == nil {
		if r.Method == http.MethodHead {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		s3err(w, http.StatusNotFound, "NoSuchKey")
		return
	}
	if im := r.Header.Get("If-Match"); im != "" && im != o.etag {
		s3err(w, http.StatusPreconditionFailed, "PreconditionFailed")
		return
	}
	h := w.Header()
	h.Set("ETag", o.etag)
	h.Set("Last-Modified", o.modified.UTC().Format(http.TimeFormat))
	data, status := o.data, http.StatusOK
	if rg := r.Header.Get("Range"); rg != "" {
		var from int
		if _, err := fmt.Sscanf(rg, "bytes=%d-", &from); err != nil || from >= len(o.data) {
			s3err(w, http.StatusRequestedRangeNotSatisfiable, "InvalidRange")
			return
		}
		data, status = o.data[from:], http.StatusPartialContent
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", from, len(o.data)-1, len(o.data)))
	}
	h.Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(status)
	if r.Method == http.MethodGet {
		_, _ = w.Write(data)
	}
}
