#!/usr/bin/env bash
# A Headroom cluster on this machine: one nats-server with JetStream and N
# Headroom nodes on loopback, with their logs and pids in one folder.
#   ops/cluster.sh up N [--secure] [--pools FILE] [--http]
#                                   start nats-server and N nodes (node-1..node-N)
#   ops/cluster.sh status           which of those processes run, and the cluster's own status
#   ops/cluster.sh down             stop exactly those processes (nodes gracefully first)
# --secure: nats-server runs ops/nats/secure.conf (users node, admin, client;
# see that file for what each may do), with passwords generated once into
# $HEADROOM_CLUSTER_DIR/secrets/<user>.password (mode 0600, kept across `up`s);
# the nodes connect as `node`, `status` asks as `admin`.
# --pools FILE: every node runs the resource pools of FILE (`headroom start --pools-file`;
# each pool runs on the one node that owns it, see README "Resource pools").
# --http: node-i serves the HTTP API and dashboard on 127.0.0.1:(7420+i) and Prometheus
# metrics on 127.0.0.1:(9460+i)/metrics (loopback only: no token needed there).
# Every node hashes identifiers with the same key: $HEADROOM_CLUSTER_DIR/privacy-key.json
# (made once, mode 0600, kept across `up`s), passed as --privacy-key-file.
# Environment: HEADROOM_CLUSTER_DIR (default ./data/cluster),
#              HEADROOM_CLUSTER_NATS_PORT (default 14222; 4222 is often taken),
#              HEADROOM_CLUSTER_HTTP_PORT, HEADROOM_CLUSTER_METRICS_PORT (the bases
#              7420 and 9460 that --http adds the node's number to).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/ops/env.sh"
dir="${HEADROOM_CLUSTER_DIR:-$root/data/cluster}"
port="${HEADROOM_CLUSTER_NATS_PORT:-14222}"
url="nats://127.0.0.1:$port"
nats_bin="$(command -v nats-server || echo /usr/sbin/nats-server)"
secrets="$dir/secrets"
http_base="${HEADROOM_CLUSTER_HTTP_PORT:-7420}"
metrics_base="${HEADROOM_CLUSTER_METRICS_PORT:-9460}"
usage_up="usage: ops/cluster.sh up N [--secure] [--pools FILE] [--http] [--time-scale N]"

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

wait_for() { # file pattern seconds
  local i=0
  while ! grep -q "$2" "$1" 2>/dev/null; do
    i=$((i + 1)); [ "$i" -gt $(($3 * 10)) ] && { echo "timed out waiting for $1" >&2; tail -20 "$1" >&2; return 1; }
    sleep 0.1
  done
}

# The password of `user` (node, admin, client), made on first use: "hr" and
# 48 hex digits. The letter prefix matters: nats-server parses a $VAR's value
# as a config value, so an all-digit or "12e4..." password would not load.
password() {
  local file="$secrets/$1.password"
  if [ ! -s "$file" ]; then
    (umask 077 && mkdir -p "$secrets" && echo "hr$(openssl rand -hex 24)" >"$file")
  fi
  chmod 600 "$file"
  cat "$file"
}

# The hash key every node shares (--privacy-key-file), made on first use in
# the format the node generates for itself: one random 256-bit key.
privacy_key() {
  local file="$dir/privacy-key.json"
  if [ ! -s "$file" ]; then
    local id secret
    id="k$(openssl rand -hex 4)"
    secret="$(openssl rand 32 | base64 | tr '+/' '-_' | tr -d '=\n')"
    (umask 077 && mkdir -p "$dir" && printf '{\n  "keys": [\n    {\n      "id": "%s",\n      "secret": "%s",\n      "activeFromMs": 0\n    }\n  ]\n}\n' "$id" "$secret" >"$file.tmp" && mv "$file.tmp" "$file")
  fi
  chmod 600 "$file"
  echo "$file"
}

# How our running nats-server was started: "secure" or "open" (a cluster started
# before this script knew --secure has no nats.mode and ran open).
nats_mode() { cat "$dir/nats.mode" 2>/dev/null || echo open; }

# Where node-$1 serves its HTTP API and metrics with --http (one line each, for `status`).
endpoints() {
  local f="$dir/node-$1.http"
  [ -s "$f" ] || return 0
  local http metrics
  read -r http metrics <"$f"
  echo "  node-$1 dashboard http://127.0.0.1:$http/  metrics http://127.0.0.1:$metrics/metrics"
}

up() {
  local n="" secure=0 http=0 pools="" scale=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --secure) secure=1 ;;
      --http) http=1 ;;
      --pools)
        [ $# -ge 2 ] || { echo "--pools needs a FILE; $usage_up" >&2; return 2; }
        pools="$2"; shift
        [ -r "$pools" ] || { echo "--pools must name a readable file, got \"$pools\"" >&2; return 2; }
        pools="$(cd "$(dirname "$pools")" && pwd)/$(basename "$pools")" ;;
      --time-scale)
        [ $# -ge 2 ] || { echo "--time-scale needs a number N; $usage_up" >&2; return 2; }
        scale="$2"; shift
        [[ "$scale" =~ ^[0-9]+([.][0-9]+)?$ ]] || { echo "--time-scale must be a positive number, got \"$scale\"" >&2; return 2; } ;;
      -*) echo "unknown option \"$1\"; $usage_up" >&2; return 2 ;;
      *) if [ -z "$n" ]; then n="$1"; else echo "$usage_up" >&2; return 2; fi ;;
    esac
    shift
  done
  [ -n "$n" ] || { echo "$usage_up" >&2; return 2; }
  case "$n" in ''|*[!0-9]*|0) echo "N must be a positive whole number of nodes, got \"$n\"; $usage_up" >&2; return 2 ;; esac
  local mode=open; [ "$secure" = 1 ] && mode=secure
  mkdir -p "$dir"
  local key; key="$(privacy_key)"
  if alive "$dir/nats.pid"; then
    if [ "$(nats_mode)" != "$mode" ]; then
      echo "nats-server (pid $(cat "$dir/nats.pid")) runs $(nats_mode), not $mode: run \`ops/cluster.sh down\` first" >&2
      return 1
    fi
    echo "nats-server already running (pid $(cat "$dir/nats.pid"), $mode)"
  elif [ "$mode" = secure ]; then
    # Passwords travel in the environment, never on a command line (ps shows those).
    HEADROOM_NODE_PASSWORD="$(password node)" HEADROOM_ADMIN_PASSWORD="$(password admin)" \
      HEADROOM_CLIENT_PASSWORD="$(password client)" \
      "$nats_bin" -c "$root/ops/nats/secure.conf" -a 127.0.0.1 -p "$port" -sd "$dir/nats-store" \
      >"$dir/nats.log" 2>&1 &
    echo $! >"$dir/nats.pid"
    echo secure >"$dir/nats.mode"
    wait_for "$dir/nats.log" "Server is ready" 10
    echo "nats-server pid $(cat "$dir/nats.pid") at $url (secure: ops/nats/secure.conf)"
  else
    "$nats_bin" -a 127.0.0.1 -p "$port" -js -sd "$dir/nats-store" >"$dir/nats.log" 2>&1 &
    echo $! >"$dir/nats.pid"
    echo open >"$dir/nats.mode"
    wait_for "$dir/nats.log" "Server is ready" 10
    echo "nats-server pid $(cat "$dir/nats.pid") at $url"
  fi
  # Nodes added to a running cluster later keep the first nodes' time origin.
  [ -n "$scale" ] && [ ! -s "$dir/time-origin" ] && date +%s%3N >"$dir/time-origin"
  local origin=""; [ -n "$scale" ] && origin="$(cat "$dir/time-origin")"
  for i in $(seq 1 "$n"); do
    local id="node-$i"
    if alive "$dir/$id.pid"; then echo "$id already running"; continue; fi
    : >"$dir/$id.log"
    local args=(start --nats "$url" --node-id "$id" --data-dir "$dir/$id" --privacy-key-file "$key")
    [ -n "$pools" ] && args+=(--pools-file "$pools")
    # One origin for every node, so that they keep one domain time (headroom start --time-origin).
    [ -n "$scale" ] && args+=(--time-scale "$scale" --time-origin "$origin")
    rm -f "$dir/$id.http"
    if [ "$http" = 1 ]; then
      args+=(--http-port "$((http_base + i))" --metrics-port "$((metrics_base + i))")
      echo "$((http_base + i)) $((metrics_base + i))" >"$dir/$id.http"
    fi
    if [ "$mode" = secure ]; then
      HEADROOM_NATS_USER=node HEADROOM_NATS_PASSWORD="$(password node)" \
        node "$root/bin/headroom.js" "${args[@]}" >>"$dir/$id.log" 2>&1 &
    else
      node "$root/bin/headroom.js" "${args[@]}" >>"$dir/$id.log" 2>&1 &
    fi
    echo $! >"$dir/$id.pid"
  done
  for i in $(seq 1 "$n"); do
    wait_for "$dir/node-$i.log" '"ready":true' 60
    echo "node-$i pid $(cat "$dir/node-$i.pid") log $dir/node-$i.log"
  done
  echo "cluster up: HEADROOM_NATS_URL=$url"
  echo "hash key shared by every node: $key (mode 0600)"
  [ -n "$pools" ] && echo "pools from $pools on every node (each pool runs on its owner)"
  if ls "$dir"/node-*.http >/dev/null 2>&1; then
    echo "dashboards and metrics (loopback only):"
    for i in $(seq 1 "$n"); do endpoints "$i"; done
  fi
  if [ "$mode" = secure ]; then
    # The password in the environment, not on the command line (ps shows those);
    # --nats-user/--nats-password work too.
    echo "passwords in $secrets (mode 0600). A client (checks, status, rules.get/list, events.list):"
    echo "  HEADROOM_NATS_USER=client HEADROOM_NATS_PASSWORD=\"\$(cat $secrets/client.password)\" \\"
    echo "    npx headroom call check '{\"params\":{\"user\":\"u1\"}}' --nats $url"
    echo "An admin (also rules.put/delete/history, events.publish):"
    echo "  HEADROOM_NATS_USER=admin HEADROOM_NATS_PASSWORD=\"\$(cat $secrets/admin.password)\" \\"
    echo "    npx headroom call rules.list --nats $url"
  fi
}

status() {
  local running=0
  if [ -d "$dir" ]; then
    for pidfile in "$dir"/*.pid; do
      [ -e "$pidfile" ] || continue
      local name; name="$(basename "$pidfile" .pid)"
      if alive "$pidfile"; then
        echo "$name running (pid $(cat "$pidfile"))"; running=$((running + 1))
        case "$name" in node-*) endpoints "${name#node-}" ;; esac
      else
        echo "$name stopped"
      fi
    done
  fi
  if [ "$running" = 0 ]; then
    echo "nothing runs: no nats-server and no node of the cluster in $dir (start one with \`ops/cluster.sh up N\`)"
    return 0
  fi
  alive "$dir/nats.pid" || return 0
  if [ "$(nats_mode)" = secure ]; then
    HEADROOM_NATS_USER=admin HEADROOM_NATS_PASSWORD="$(password admin)" \
      node "$root/bin/headroom.js" call status --nats "$url" || true
  else
    node "$root/bin/headroom.js" call status --nats "$url" || true
  fi
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
  rm -f "$dir"/node-*.pid "$dir"/node-*.http "$dir/time-origin"
  if alive "$dir/nats.pid"; then
    local npid; npid="$(cat "$dir/nats.pid")"
    kill -TERM "$npid"
    for _ in $(seq 1 50); do kill -0 "$npid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$dir/nats.pid" "$dir/nats.mode"
  echo "cluster down"
}

case "${1:-}" in
  up) shift; up "$@" ;;
  status) status ;;
  down) down ;;
  *) echo "usage: ops/cluster.sh up N [--secure] [--pools FILE] [--http] [--time-scale N] | status | down" >&2; exit 2 ;;
esac
