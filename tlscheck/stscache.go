package tlscheck

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// STSCache keeps fetched MTA-STS policies between runs (RFC 8461 §5.1): one
// JSON file per policy domain under Dir. A cached policy is used until
// fetched_at + max_age; within that time it is fetched again only when the
// _mta-sts TXT record carries another id, and it still applies when the TXT
// record vanished or the fetch failed.
type STSCache struct {
	Dir string           // e.g. <state dir>/mta-sts; created on the first Put
	Now func() time.Time // nil: time.Now
}

// stsEntry is one cache file.
type stsEntry struct {
	Domain    string     `json:"domain"`
	FetchedAt time.Time  `json:"fetched_at"`
	Policy    *STSPolicy `json:"policy"`
}

func (c *STSCache) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *STSCache) path(domain string) (string, error) {
	if domain == "" || strings.ContainsAny(domain, `/\`) || strings.HasPrefix(domain, ".") {
		return "", fmt.Errorf("mta-sts cache: unusable domain name %q", domain)
	}
	return filepath.Join(c.Dir, domain+".json"), nil
}

// Get returns the cached policy of domain while it is fresh (fetched_at +
// max_age not reached); ok is false otherwise. An unreadable or corrupt
// file counts as no entry.
func (c *STSCache) Get(domain string) (p *STSPolicy, fetchedAt time.Time, ok bool) {
	if c == nil {
		return nil, time.Time{}, false
	}
	path, err := c.path(domain)
	if err != nil {
		return nil, time.Time{}, false
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, time.Time{}, false
	}
	var e stsEntry
	if err := json.Unmarshal(b, &e); err != nil || e.Policy == nil || e.Domain != domain {
		return nil, time.Time{}, false
	}
	if !c.now().Before(e.FetchedAt.Add(time.Duration(e.Policy.MaxAge) * time.Second)) {
		return nil, time.Time{}, false
	}
	return e.Policy, e.FetchedAt, true
}

// Put stores a freshly fetched policy (atomically: temporary file, rename).
func (c *STSCache) Put(domain string, p *STSPolicy) error {
	if c == nil {
		return nil
	}
	path, err := c.path(domain)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return fmt.Errorf("mta-sts cache: %w", err)
	}
	b, err := json.MarshalIndent(stsEntry{Domain: domain, FetchedAt: c.now().UTC(), Policy: p}, "", "  ")
	if err != nil {
		return fmt.Errorf("mta-sts cache: %w", err)
	}
	tmp, err := os.CreateTemp(c.Dir, "."+domain+".*")
	if err != nil {
		return fmt.Errorf("mta-sts cache: %w", err)
	}
	_, werr := tmp.Write(append(b, '\n'))
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("mta-sts cache %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("mta-sts cache: %w", err)
	}
	return nil
}
