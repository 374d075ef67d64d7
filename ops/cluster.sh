#!/usr/bin/env bash
# A Headroom cluster on this machine: one nats-server with JetStream and N
# Headroom nodes on loopback, with their logs and pids in one folder.
#   ops/cluster.sh up N      start nats-server and N nodes (node-1..node-N)
#   ops/cluster.sh status    which of those processes run, and the cluster's own status
#   ops/cluster.sh down      stop exactly those processes (nodes gracefully first)
# Environment: HEADROOM_CLUSTER_DIR (default ./data/cluster),
#              HEADROOM_CLUSTER_NATS_PORT (default 14222; 4222 is often taken).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/ops/env.sh"
dir="${HEADROOM_CLUSTER_DIR:-$root/data/cluster}"
port="${HEADROOM_CLUSTER_NATS_PORT:-14222}"
url="nats://127.0.0.1:$port"
nats_bin="$(command -v nats-server || echo /usr/sbin/nats-server)"

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

wait_for() { # file pattern seconds
  local i=0
  while ! grep -q "$2" "$1" 2>/dev/null; do
    i=$((i + 1)); [ "$i" -gt $(($3 * 10)) ] && { echo "timed out waiting for $1" >&2; tail -20 "$1" >&2; return 1; }
    sleep 0.1
  done
}

up() {
  local n="${1:?usage: ops/cluster.sh up N}"
  mkdir -p "$dir"
  if alive "$dir/nats.pid"; then echo "nats-server already running (pid $(cat "$dir/nats.pid"))"; else
    "$nats_bin" -a 127.0.0.1 -p "$port" -js -sd "$dir/nats-store" >"$dir/nats.log" 2>&1 &
    echo $! >"$dir/nats.pid"
    wait_for "$dir/nats.log" "Server is ready" 10
    echo "nats-server pid $(cat "$dir/nats.pid") at $url"
  fi
  for i in $(seq 1 "$n"); do
    local id="node-$i"
    if alive "$dir/$id.pid"; then echo "$id already running"; continue; fi
    : >"$dir/$id.log"
    node "$root/bin/headroom.js" start --nats "$url" --node-id "$id" --data-dir "$dir/$id" >>"$dir/$id.log" 2>&1 &
    echo $! >"$dir/$id.pid"
  done
  for i in $(seq 1 "$n"); do
    wait_for "$dir/node-$i.log" '"ready":true' 60
    echo "node-$i pid $(cat "$dir/node-$i.pid") log $dir/node-$i.log"
  done
  echo "cluster up: HEADROOM_NATS_URL=$url"
}

status() {
  [ -d "$dir" ] || { echo "no cluster in $dir"; return 0; }
  for pidfile in "$dir"/*.pid; do
    [ -e "$pidfile" ] || continue
    local name; name="$(basename "$pidfile" .pid)"
    if alive "$pidfile"; then echo "$name running (pid $(cat "$pidfile"))"; else echo "$name stopped"; fi
  done
  if alive "$dir/nats.pid"; then node "$root/bin/headroom.js" call status --nats "$url" || true; fi
}

down() {
  [ -d "$dir" ] || return 0
  local pids=()
  for pidfile in "$dir"/node-*.pid; do
    [ -e "$pidfile" ] || continue
    if alive "$pidfile"; then kill -TERM "$(cat "$pidfile")"; pids+=("$(cat "$pidfile")"); fi
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { echo "node pid $pid did not stop in 15 s; killing it" >&2; kill -KILL "$pid"; }
  done
  rm -f "$dir"/node-*.pid
  if alive "$dir/nats.pid"; then
    local npid; npid="$(cat "$dir/nats.pid")"
    kill -TERM "$npid"
    for _ in $(seq 1 50); do kill -0 "$npid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$dir/nats.pid"
  echo "cluster down"
}

case "${1:-}" in
  up) up "${2:-}" ;;
  status) status ;;
  down) down ;;
  *) echo "usage: ops/cluster.sh up N | status | down" >&2; exit 2 ;;
esac
