#!/usr/bin/env bash
# Runs a three-node JetStream cluster on loopback, configured as deploy/nats
# configures production (file storage, sync_interval: always), from the
# nats-server module pinned in go.mod. For measuring Fluxhook against the
# production layout:
#
#   scripts/nats-cluster.sh start     # prints the URLs
#   FLUXHOOK_BENCH_NATS_URL=nats://127.0.0.1:4301 FLUXHOOK_BENCH_STREAM_REPLICAS=3 make bench
#   scripts/nats-cluster.sh stop
#
# or to run api, dispatcher and worker on it, as many of each as you like,
# started in any order (they wait for the cluster when it is not up yet):
#
#   export FLUXHOOK_NATS_URL=nats://127.0.0.1:4301,nats://127.0.0.1:4302,nats://127.0.0.1:4303
#   export FLUXHOOK_STREAM_REPLICAS=3
#
# State lives in .tmp/nats-cluster (git-ignored); stop removes it.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=.tmp/nats-cluster
bin=$dir/nats-server

start() {
	mkdir -p "$dir"
	if [ ! -x "$bin" ]; then
		go build -o "$bin" github.com/nats-io/nats-server/v2
	fi
	for i in 1 2 3; do
		routes=""
		for j in 1 2 3; do
			[ "$i" = "$j" ] || routes="$routes${routes:+, }\"nats-route://127.0.0.1:630$j\""
		done
		mkdir -p "$dir/n$i"
		cat >"$dir/n$i.conf" <<CONF
server_name: n$i
listen: 127.0.0.1:430$i
jetstream { store_dir: "$dir/n$i", sync_interval: always }
cluster { name: fluxhook-bench, listen: 127.0.0.1:630$i, routes: [$routes] }
CONF
		"$bin" -c "$dir/n$i.conf" >"$dir/n$i.log" 2>&1 &
		echo $! >"$dir/n$i.pid"
	done
	for _ in $(seq 1 100); do
		if grep -q "JetStream cluster new metadata leader" "$dir"/n*.log 2>/dev/null; then
			echo "nats://127.0.0.1:4301,nats://127.0.0.1:4302,nats://127.0.0.1:4303"
			return 0
		fi
		sleep 0.2
	done
	echo "the cluster elected no JetStream leader within 20 s; see $dir/n*.log (scripts/nats-cluster.sh stop cleans up)" >&2
	return 1
}

stop() {
	for f in "$dir"/n*.pid; do
		[ -e "$f" ] || continue
		kill "$(cat "$f")" 2>/dev/null || true
	done
	sleep 1
	rm -rf "$dir"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
*) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
