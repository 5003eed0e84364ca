// Package faults is the fault-injection test bed of the integration tests:
// toxiproxy's server runs inside the test, with a proxy on 127.0.0.1:0 in
// front of a real service (MariaDB, Swift, S3, Postfix). A test points ops
// at Proxy.Addr and adds toxics: latency, bandwidth, timeout, reset_peer,
// slicer, limit_data; Outage resets every connection for a while and
// After fires a fault once a number of bytes has passed.
//
// Pooled connections survive a brief disable of a proxy, so faults are
// toxics (reset_peer, timeout), never a disabled proxy.
//
// faults is imported by tests only; it imports no ops package.
package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/toxics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Direction of a toxic: Down is from the service to ops, Up from ops to
// the service.
const (
	Down = "downstream"
	Up   = "upstream"
)

// Proxy is one toxiproxy proxy in front of a service.
type Proxy struct {
	t    testing.TB
	p    *toxiproxy.Proxy
	Addr string // 127.0.0.1:port, where ops connects
	n    atomic.Int64
}

var (
	serverOnce sync.Once
	server     *toxiproxy.ApiServer
	proxySeq   atomic.Int64
)

// New starts a proxy on 127.0.0.1:0 in front of upstream (host:port); it
// is removed when the test ends.
func New(t testing.TB, upstream string) *Proxy {
	t.Helper()
	serverOnce.Do(func() {
		server = toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	})
	name := fmt.Sprintf("p%d", proxySeq.Add(1))
	p := toxiproxy.NewProxy(server, name, "127.0.0.1:0", upstream)
	if err := server.Collection.Add(p, true); err != nil {
		t.Fatalf("toxiproxy: proxy in front of %s: %v", upstream, err)
	}
	t.Cleanup(func() { _ = server.Collection.Remove(name) })
	return &Proxy{t: t, p: p, Addr: p.Listen}
}

// Port is the proxy's port, as a string.
func (p *Proxy) Port() string {
	for i := len(p.Addr) - 1; i >= 0; i-- {
		if p.Addr[i] == ':' {
			return p.Addr[i+1:]
		}
	}
	return ""
}

// Add adds a toxic of type typ on stream (Down or Up) with the given
// attributes to every connection, open or new, and returns its name.
func (p *Proxy) Add(typ, stream string, attrs map[string]any) string {
	p.t.Helper()
	name := fmt.Sprintf("%s_%s_%d", typ, stream, p.n.Add(1))
	body, err := json.Marshal(map[string]any{"name": name, "type": typ, "stream": stream, "toxicity": 1.0, "attributes": attrs})
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.p.Toxics.AddToxicJson(bytes.NewReader(body)); err != nil {
		p.t.Fatalf("toxiproxy: add %s: %v", body, err)
	}
	return name
}

// Remove removes a toxic added by Add.
func (p *Proxy) Remove(name string) {
	if err := p.p.Toxics.RemoveToxic(context.Background(), name); err != nil {
		p.t.Errorf("toxiproxy: remove %s: %v", name, err)
	}
}

// Latency delays the data of stream by ms ± jitter milliseconds.
func (p *Proxy) Latency(stream string, ms, jitter int) string {
	return p.Add("latency", stream, map[string]any{"latency": ms, "jitter": jitter})
}

// Bandwidth caps stream at kbps kilobytes per second.
func (p *Proxy) Bandwidth(stream string, kbps int) string {
	return p.Add("bandwidth", stream, map[string]any{"rate": kbps})
}

// Timeout stops the data of stream (a black hole); the connection is
// closed after ms milliseconds, or never when ms is 0.
func (p *Proxy) Timeout(stream string, ms int) string {
	return p.Add("timeout", stream, map[string]any{"timeout": ms})
}

// ResetPeer resets a connection (TCP RST) ms milliseconds after data
// comes on stream.
func (p *Proxy) ResetPeer(stream string, ms int) string {
	return p.Add("reset_peer", stream, map[string]any{"timeout": ms})
}

// Slicer cuts the data of stream into pieces of about avg bytes (± variation),
// delayUs microseconds apart.
func (p *Proxy) Slicer(stream string, avg, variation, delayUs int) string {
	return p.Add("slicer", stream, map[string]any{"average_size": avg, "size_variation": variation, "delay": delayUs})
}

// LimitData closes each connection once n bytes have passed on stream.
func (p *Proxy) LimitData(stream string, n int64) string {
	return p.Add("limit_data", stream, map[string]any{"bytes": n})
}

// Outage resets every connection, open and new, in both directions for d,
// then lets them through again; it returns at once. Done reports the end.
func (p *Proxy) Outage(d time.Duration) (done <-chan struct{}) {
	down, up := p.ResetPeer(Down, 0), p.ResetPeer(Up, 0)
	c := make(chan struct{})
	time.AfterFunc(d, func() {
		p.Remove(down)
		p.Remove(up)
		close(c)
	})
	return c
}

// Cut resets every connection, open and new, until the returned function
// is called.
func (p *Proxy) Cut() (restore func()) {
	down, up := p.ResetPeer(Down, 0), p.ResetPeer(Up, 0)
	return func() { p.Remove(down); p.Remove(up) }
}

// After calls fn once n more bytes have passed on stream (every
// connection counted together), in its own goroutine. Fired reports
// whether fn was called and has returned.
func (p *Proxy) After(stream string, n int64, fn func()) (fired func() bool) {
	return p.addTrip(stream, &trip{limit: n}, fn)
}

// When calls fn once a piece of data on stream contains pattern (a
// request line: "GET /v1/AUTH_test/c?format=json"), in its own goroutine.
func (p *Proxy) When(stream, pattern string, fn func()) (fired func() bool) {
	return p.addTrip(stream, &trip{pattern: []byte(pattern)}, fn)
}

func (p *Proxy) addTrip(stream string, tr *trip, fn func()) (fired func() bool) {
	id := fmt.Sprintf("%p/%d", p, p.n.Add(1))
	ran := make(chan struct{})
	tr.fn = func() { fn(); close(ran) }
	trips.Store(id, tr)
	p.t.Cleanup(func() { trips.Delete(id) })
	p.Add(tripType, stream, map[string]any{"id": id})
	return func() bool {
		if !tr.done.Load() {
			return false
		}
		<-ran
		return true
	}
}

const tripType = "ops_trip"

var trips sync.Map // id → *trip

type trip struct {
	limit   int64
	pattern []byte // when set, instead of limit
	seen    atomic.Int64
	done    atomic.Bool
	fn      func()
}

func (tr *trip) hit(data []byte) bool {
	if tr.pattern != nil {
		return bytes.Contains(data, tr.pattern)
	}
	return tr.seen.Add(int64(len(data))) >= tr.limit
}

// tripToxic passes data on unchanged and counts it for a trip.
type tripToxic struct {
	ID string `json:"id"`
}

func (t *tripToxic) Pipe(stub *toxics.ToxicStub) {
	v, _ := trips.Load(t.ID)
	tr, _ := v.(*trip)
	for {
		select {
		case <-stub.Interrupt:
			return
		case c := <-stub.Input:
			if c == nil {
				stub.Close()
				return
			}
			if tr != nil && tr.hit(c.Data) && tr.done.CompareAndSwap(false, true) {
				go tr.fn()
			}
			stub.Output <- c
		}
	}
}

func init() { toxics.Register(tripType, new(tripToxic)) }
