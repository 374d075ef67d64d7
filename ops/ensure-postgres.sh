#!/usr/bin/env bash
# The db pool tests need a PostgreSQL server on 127.0.0.1:5432 with trust
# auth for local connections. Machines of this kind start one before each
# session and CI; where none answers, install (Debian's package) and start it.
set -euo pipefail
ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
if command -v pg_isready >/dev/null 2>&1 && ready; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then sudo=sudo; else sudo=; fi
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "headroom: installing postgresql" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
version="$(ls /etc/postgresql | sort -V | tail -n 1)"
echo "headroom: starting PostgreSQL $version" >&2
$sudo pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
for _ in $(seq 1 50); do ready && exit 0; sleep 0.2; done
echo "headroom: PostgreSQL did not come up on 127.0.0.1:5432" >&2
exit 1
