package inventory

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
)

// scanMerge is the merge as it was written before the index: a scan of the
// report per declared record. mergeDeclared must give the same result.
func scanMerge(rep *Report, decl Records) {
	for _, h := range decl.Hosts {
		found := false
		for _, x := range rep.Hosts {
			if strings.EqualFold(x.Name, h.Name) && (h.scope == "" || x.Source == h.scope) {
				found = true
				break
			}
		}
		if !found {
			rep.Hosts = append(rep.Hosts, h)
		}
	}
	for _, v := range decl.VMs {
		found := false
		for _, x := range rep.VMs {
			if x.Name == v.Name && (v.scope == "" || x.Source == v.scope) {
				found = true
				break
			}
		}
		if !found {
			rep.VMs = append(rep.VMs, v)
		}
	}
	for _, f := range decl.Firewalls {
		found := false
		for _, x := range rep.Firewalls {
			if strings.EqualFold(x.Name, f.Name) && (f.scope == "" || x.Source == f.scope) {
				found = true
				break
			}
		}
		if !found {
			rep.Firewalls = append(rep.Firewalls, f)
		}
	}
	rep.Datastores = append(rep.Datastores, decl.Datastores...)
}

func TestMergeDeclaredIsTheScan(t *testing.T) {
	discovered := func() *Report {
		return &Report{
			Hosts: []Host{{Source: "vc", Name: "ESX1"}, {Source: "kvm", Name: "kvm1"}, {Source: "vc", Name: "esx1"}, {Source: "vc", Name: "\u212Aelvin"}},
			VMs:   []VM{{Source: "vc", Name: "web"}, {Source: "kvm", Name: "Web"}, {Source: "vc", Name: "db"}},
			Firewalls: []Firewall{
				{Source: "edge", Name: "GW1"},
			},
		}
	}
	decl := Records{
		Hosts: []Host{
			{Source: "declared", Name: "esx1"},                // any source, case-insensitive: discovered
			{Source: "declared", Name: "esx1", scope: "kvm"},  // not on kvm: added
			{Source: "declared", Name: "kelvin"},              // Kelvin sign folds to k: discovered
			{Source: "declared", Name: "hv1"},                 // undiscoverable: added
			{Source: "declared", Name: "HV1"},                 // same as the one just added: not added again
			{Source: "declared", Name: "kvm1", scope: "kvm"},  // discovered
			{Source: "declared2", Name: "hv1", scope: "decl"}, // scoped to a source nothing has: added
		},
		VMs: []VM{
			{Source: "declared", Name: "web"},
			{Source: "declared", Name: "WEB"}, // VM names are case-sensitive: added
			{Source: "declared", Name: "Web", scope: "vc"},
			{Source: "declared", Name: "db", scope: "kvm"},
			{Source: "declared", Name: "app"},
			{Source: "declared", Name: "app"},
		},
		Firewalls:  []Firewall{{Source: "declared", Name: "gw1"}, {Source: "declared", Name: "gw2"}, {Source: "declared", Name: "Gw1", scope: "other"}},
		Datastores: []Datastore{{Source: "declared", Name: "ds"}},
	}
	want := discovered()
	scanMerge(want, decl)
	got := discovered()
	if err := mergeDeclared(t.Context(), got, decl); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("mergeDeclared:\n got  %+v\n want %+v", got, want)
	}
	if len(got.Hosts) != 4+3 || len(got.VMs) != 3+4 || len(got.Firewalls) != 1+2 {
		t.Errorf("merged %d hosts, %d VMs, %d firewalls", len(got.Hosts), len(got.VMs), len(got.Firewalls))
	}
}

func TestFoldKeyIsEqualFold(t *testing.T) {
	words := []string{"", "k", "K", "\u212A", "s", "S", "\u017F", "ß", "ẞ", "Straße", "STRASSE", "straẞe", "Σ", "σ", "ς",
		"esx01", "ESX01", "\xff", "\xfe", "a\xffb", "İ", "i", "I", "ı", "Ǆ", "ǅ", "ǆ", "µ", "μ", "Μ"}
	for _, a := range words {
		for _, b := range words {
			if got, want := foldKey(a) == foldKey(b), strings.EqualFold(a, b); got != want {
				t.Errorf("foldKey(%q) == foldKey(%q) is %v; EqualFold says %v", a, b, got, want)
			}
		}
	}
}

// cancelAfterChecks is a context whose Err turns to context.Canceled after
// n calls: it cancels a loop in the middle, at a point the test chooses,
// without timing.
type cancelAfterChecks struct {
	context.Context
	n atomic.Int64
}

func (c *cancelAfterChecks) Err() error {
	if c.n.Add(-1) < 0 {
		return context.Canceled
	}
	return nil
}

func manyVMs(n int, source string) []VM {
	vms := make([]VM, n)
	for i := range vms {
		vms[i] = VM{Source: source, Name: fmt.Sprintf("vm%06d", i)}
	}
	return vms
}

func TestMergeDeclaredStopsWhenCancelled(t *testing.T) {
	const n = 50 * ctxEvery
	rep := &Report{VMs: manyVMs(n, "vc")}
	decl := Records{VMs: manyVMs(2*n, "declared")} // half discovered, half new
	// 50 checks while indexing the discovered VMs, then 10 among the
	// declared ones: cancelled at the 10,240th of 102,400, before any new
	// one.
	ctx := &cancelAfterChecks{Context: t.Context()}
	ctx.n.Store(50 + 10)
	err := mergeDeclared(ctx, rep, decl)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if len(rep.VMs) != n {
		t.Errorf("%d VMs after a merge cancelled among the already discovered; want %d", len(rep.VMs), n)
	}

	// Cancelled after the first half: some declared VMs were added, not all.
	rep = &Report{VMs: manyVMs(n, "vc")}
	ctx = &cancelAfterChecks{Context: t.Context()}
	ctx.n.Store(50 + 75)
	if err := mergeDeclared(ctx, rep, decl); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if added := len(rep.VMs) - n; added <= 0 || added >= n {
		t.Errorf("%d VMs added before the cancellation; want some, not all %d", added, n)
	}
}

// An interrupted Collect returns no report: a report whose sources all
// failed would otherwise replace a good one (--out) on SIGTERM.
func TestCollectInterrupted(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "inv.yaml")
	var b strings.Builder
	b.WriteString("vms:\n")
	for i := range 3 * ctxEvery {
		fmt.Fprintf(&b, "  - {name: vm%d}\n", i)
	}
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	vc := &fakeSource{name: "vc", typ: TypeVCenter, recs: Records{VMs: manyVMs(3*ctxEvery, "")}}
	decl := &FileSource{SourceName: "declared", Path: p}

	// Cancelled during the merge (the sources have answered).
	ctx := &cancelAfterChecks{Context: t.Context()}
	ctx.n.Store(1 << 40)
	rep, err := Collect(ctx, Options{Sources: []Source{vc, decl}, Now: clock})
	if err != nil || len(rep.VMs) != 3*ctxEvery*2 {
		t.Fatalf("uncancelled: %v, %d VMs", err, len(rep.VMs))
	}
	calls := int64(1<<40) - ctx.n.Load()
	if calls < 3 {
		t.Fatalf("Collect looked at its context %d times", calls)
	}
	for _, at := range []int64{calls - 1, calls / 2, 1} {
		ctx := &cancelAfterChecks{Context: t.Context()}
		ctx.n.Store(at)
		rep, err := Collect(ctx, Options{Sources: []Source{vc, decl}, Now: clock})
		if !errors.Is(err, context.Canceled) || rep != nil {
			t.Errorf("cancelled after %d of %d checks: report %v, err %v; want nil, context.Canceled", at, calls, rep != nil, err)
		}
	}

	// Cancelled while a source is still collecting.
	cctx, cancel := context.WithCancel(t.Context())
	slow := &fakeSource{name: "slow", typ: TypeLibvirt, delay: 1 << 40}
	go cancel()
	rep, err = Collect(cctx, Options{Sources: []Source{vc, slow}, Now: clock})
	if !errors.Is(err, context.Canceled) || rep != nil {
		t.Errorf("cancelled while collecting: report %v, err %v", rep != nil, err)
	}
}

// BenchmarkCollectDeclared collects a discovering source of N VMs and a
// declared file of N VMs, half of them discovered (scope vc) and half not,
// through Collect: YAML decoding, merge, findings and normalisation.
// bench/inventory-merge.sh measures the whole command (wall time, peak RSS).
//
//	go test ./inventory -run X -bench CollectDeclared -benchmem
func BenchmarkCollectDeclared(b *testing.B) {
	for _, n := range []int{2000, 20000, 200000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			var y strings.Builder
			y.WriteString("vms:\n")
			for i := range n {
				if i%2 == 0 {
					fmt.Fprintf(&y, "  - {name: vm%07d, source: vc, power: \"on\", cpus: 2}\n", i)
				} else {
					fmt.Fprintf(&y, "  - {name: declared%07d, power: \"on\", cpus: 2}\n", i)
				}
			}
			p := filepath.Join(b.TempDir(), "inv.yaml")
			if err := os.WriteFile(p, []byte(y.String()), 0o644); err != nil {
				b.Fatal(err)
			}
			vms := make([]VM, n)
			for i := range vms {
				vms[i] = VM{Name: fmt.Sprintf("vm%07d", i), Power: PowerOn, CPUs: 2}
			}
			srcs := []Source{&fakeSource{name: "vc", typ: TypeVCenter, recs: Records{VMs: vms}}, &FileSource{SourceName: "declared", Path: p}}
			for b.Loop() {
				rep, err := Collect(b.Context(), Options{Sources: srcs, Now: clock})
				if err != nil || len(rep.VMs) != n+n/2 {
					b.Fatalf("%v, %d VMs", err, len(rep.VMs))
				}
			}
		})
	}
}
