#!/usr/bin/env bash
# Installs the servers the tests start (Debian packages): nats-server and
# clickhouse-server, and the headless browser the dashboard test drives
# (chromium, through puppeteer-core). Tests start their own instances on
# random loopback ports.
set -euo pipefail
need=()
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || need+=(nats-server)
command -v clickhouse-server >/dev/null 2>&1 || [ -x /usr/bin/clickhouse-server ] || need+=(clickhouse-server clickhouse-client)
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  echo "headroom: installing ${need[*]}" >&2
  if [ "$(id -u)" -ne 0 ]; then sudo=sudo; else sudo=; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
