#!/usr/bin/env bash
# bench/inventory.sh — ops' vCenter inventory collection against a govc loop,
# on a vcsim with 50 hosts and 1,000 VMs (5 clusters x 10 hosts, 200 VMs per
# cluster). Not a test: it prints wall times. Target: ops < 2 s and at least
# 10x faster than `govc find -type m` + `govc vm.info -json` of every VM.
#
#   bench/inventory.sh                 # everything (the govc loop takes minutes)
#   GOVC_SAMPLE=100 bench/inventory.sh # time vm.info for 100 VMs and extrapolate
#
# vcsim and govc are built from a throw-away wrapper module OUTSIDE the repo
# (services.md §5: `go install .../vcsim@v0.52.0` fails because vcsim and
# govc are nested modules). Nothing of upstream is copied into the repo: the
# two mains below are original thin wrappers around the packages that the
# govmomi v0.52.0 module does contain (simulator, cli/...).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=${BENCH_WORK:-${TMPDIR:-/tmp}/ops-bench-inventory}
PORT=${VCSIM_PORT:-18989}
RUNS=${RUNS:-5}
GOVC_SAMPLE=${GOVC_SAMPLE:-0} # 0 = every VM
GOVMOMI=v0.52.0

log() { printf '== %s\n' "$*" >&2; }

build_tools() {
	mkdir -p "$WORK/tools/cmd/vcsim" "$WORK/tools/cmd/govc" "$WORK/bin"
	cd "$WORK/tools"
	[ -f go.mod ] || cat > go.mod <<EOF
module opsbench/govmomi-tools

go 1.24

require github.com/vmware/govmomi $GOVMOMI
EOF
	cat > cmd/vcsim/main.go <<'EOF'
// Thin vcsim: a VPX model of the requested size served over TLS.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"log"
	"net/url"
	"os"
	"os/signal"
	"syscall"

	"github.com/vmware/govmomi/simulator"
)

func main() {
	listen := flag.String("l", "127.0.0.1:8989", "listen address")
	clusters := flag.Int("cluster", 5, "clusters")
	hosts := flag.Int("host", 10, "hosts per cluster")
	standalone := flag.Int("standalone-host", 0, "standalone hosts")
	vms := flag.Int("vm", 200, "VMs per cluster resource pool / standalone host")
	flag.Parse()
	m := simulator.VPX()
	m.Cluster, m.ClusterHost, m.Host, m.Machine = *clusters, *hosts, *standalone, *vms
	if err := m.Create(); err != nil {
		log.Fatal(err)
	}
	defer m.Remove()
	m.Service.Listen = &url.URL{Host: *listen}
	m.Service.TLS = new(tls.Config)
	s := m.Service.NewServer()
	fmt.Printf("GOVC_URL=%s\n", s.URL)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	<-sig
	s.Close()
}
EOF
	local mod
	mod=$(cd "$REPO" && go list -m -f '{{.Dir}}' github.com/vmware/govmomi 2>/dev/null || true)
	[ -n "$mod" ] || mod=$(go env GOMODCACHE)/github.com/vmware/govmomi@$GOVMOMI
	{
		echo "// Thin govc: the cli package plus every command package of govmomi $GOVMOMI."
		echo "package main"
		echo
		echo "import ("
		echo '	"os"'
		echo
		echo '	"github.com/vmware/govmomi/cli"'
		grep -rl 'cli.Register(' "$mod/cli" --include='*.go' | grep -v _test.go | xargs -n1 dirname | sort -u |
			sed "s#^$mod#github.com/vmware/govmomi#" | sed 's#^#\t_ "#; s#$#"#'
		echo ")"
		echo
		echo "func main() { os.Exit(cli.Run(os.Args[1:])) }"
	} > cmd/govc/main.go
	GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1
	log "building vcsim and govc in $WORK/tools (first time: a few minutes)"
	GOFLAGS=-mod=mod go build -o "$WORK/bin/vcsim" ./cmd/vcsim
	GOFLAGS=-mod=mod go build -o "$WORK/bin/govc" ./cmd/govc
}

start_vcsim() {
	log "starting vcsim (5 clusters x 10 hosts, 1,000 VMs) on 127.0.0.1:$PORT"
	"$WORK/bin/vcsim" -l "127.0.0.1:$PORT" -cluster 5 -host 10 -vm 200 > "$WORK/vcsim.out" 2>&1 &
	VCSIM_PID=$!
	trap 'kill $VCSIM_PID 2>/dev/null || true' EXIT
	for _ in $(seq 1 600); do
		if grep -q GOVC_URL "$WORK/vcsim.out"; then break; fi
		kill -0 $VCSIM_PID 2>/dev/null || { cat "$WORK/vcsim.out" >&2; exit 1; }
		sleep 0.5
	done
	export GOVC_URL GOVC_INSECURE=1
	GOVC_URL=$(sed -n 's/^GOVC_URL=//p' "$WORK/vcsim.out")
	log "vcsim ready: $(sed 's#//[^@]*@#//#' <<<"$GOVC_URL")"
}

now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc -l | xargs printf '%.3f'; }

main() {
	command -v bc >/dev/null || { echo "bc is needed (apt-get install -y bc)" >&2; exit 1; }
	build_tools
	start_vcsim
	local govc=$WORK/bin/govc

	log "ops: $RUNS collections"
	(cd "$REPO" && go build -o "$WORK/bin/ops-inventory-bench" ./bench/inventory)
	"$WORK/bin/ops-inventory-bench" -url "$GOVC_URL" -n "$RUNS" | tee "$WORK/ops.txt"

	log "govc: find -type m, then vm.info -json per VM"
	"$govc" about >/dev/null # warm the session cache
	local t0 t1 t2 vms n
	t0=$(now)
	"$govc" find / -type m > "$WORK/vms.txt"
	t1=$(now)
	n=$(wc -l < "$WORK/vms.txt")
	vms=$n
	if [ "$GOVC_SAMPLE" -gt 0 ] && [ "$GOVC_SAMPLE" -lt "$n" ]; then vms=$GOVC_SAMPLE; fi
	head -n "$vms" "$WORK/vms.txt" | while IFS= read -r vm; do "$govc" vm.info -json "$vm" > /dev/null; done
	t2=$(now)
	local find_s loop_s total_s
	find_s=$(secs "$t0" "$t1")
	loop_s=$(secs "$t1" "$t2")
	if [ "$vms" -lt "$n" ]; then
		total_s=$(echo "$find_s + $loop_s * $n / $vms" | bc -l | xargs printf '%.1f')
		log "govc: find $find_s s; vm.info x $vms: $loop_s s; extrapolated to $n VMs: $total_s s"
	else
		total_s=$(echo "$find_s + $loop_s" | bc -l | xargs printf '%.1f')
	fi
	log "govc (single call): vm.info -json of all $n VMs at once"
	t0=$(now)
	xargs -a "$WORK/vms.txt" -d '\n' "$govc" vm.info -json > /dev/null
	t1=$(now)
	local single_s ops_s
	single_s=$(secs "$t0" "$t1")
	ops_s=$(sed -n 's/.*median \([0-9.]*\) s.*/\1/p' "$WORK/ops.txt")

	echo
	echo "| what (50 hosts, $n VMs, vcsim $GOVMOMI, $(nproc) cores) | wall time |"
	echo "|---|---|"
	echo "| ops inventory collection (median of $RUNS) | ${ops_s} s |"
	echo "| govc find -type m | ${find_s} s |"
	if [ "$vms" -lt "$n" ]; then
		echo "| govc vm.info -json per VM ($vms sampled, extrapolated) + find | ${total_s} s |"
	else
		echo "| govc find + vm.info -json per VM ($n processes) | ${total_s} s |"
	fi
	echo "| govc vm.info -json, all VMs in one call | ${single_s} s |"
	echo "| speed-up vs the govc loop | $(echo "$total_s / $ops_s" | bc -l | xargs printf '%.0f')x |"
}

main "$@"
