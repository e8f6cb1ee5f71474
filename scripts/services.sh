#!/usr/bin/env bash
# Real servers for tests, demos and benchmarks: Debian's redis-server, etcd and chromium.
#   services.sh ensure          install what is missing (apt-get, as root), or print the command;
#                               also nftables and iproute2 for the partition chaos spec (optional:
#                               without them, or without root or apt, that spec skips)
#   services.sh start [DIR]     start redis-server and etcd on free loopback ports; prints env lines
#   services.sh stop [DIR]      stop what `start` started, by PID
set -euo pipefail

PACKAGES="redis-server etcd-server etcd-client chromium"
state_dir="${2:-${TMPDIR:-/tmp}/rxjs-concurrency-services}"

missing() {
  local out=()
  command -v redis-server >/dev/null || out+=(redis-server)
  command -v etcd >/dev/null || out+=(etcd-server)
  command -v etcdctl >/dev/null || out+=(etcd-client)
  command -v chromium >/dev/null || out+=(chromium)
  echo "${out[@]:-}"
}

# Optional tools of spec/chaos/partition.spec.ts (network namespaces, nftables DROP rules).
# Best effort and idempotent: never fails `ensure`.
ensure_partition_tools() {
  local need=()
  command -v nft >/dev/null || need+=(nftables)
  command -v ip >/dev/null || need+=(iproute2)
  [ ${#need[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "services: ${need[*]} missing (partition chaos spec will skip); as root: apt-get install -y ${need[*]}" >&2
    return 0
  fi
  echo "services: installing ${need[*]} (partition chaos spec)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null 2>&1 &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null 2>&1; } ||
    echo "services: could not install ${need[*]} (partition chaos spec will skip)" >&2
  return 0
}

free_port() {
  node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}

case "${1:-}" in
  ensure)
    ensure_partition_tools
    need="$(missing)"
    if [ -z "$need" ]; then echo "services: redis-server, etcd, etcdctl and chromium are installed"; exit 0; fi
    cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $PACKAGES"
    if [ "$(id -u)" != 0 ]; then
      echo "services: missing $need; install them as root with:" >&2
      echo "  $cmd" >&2
      exit 1
    fi
    echo "services: installing $need"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $PACKAGES >/dev/null
    [ -z "$(missing)" ] || { echo "services: still missing $(missing)" >&2; exit 1; }
    ;;
  start)
    mkdir -p "$state_dir"
    rport=$(free_port); cport=$(free_port); pport=$(free_port)
    redis-server --bind 127.0.0.1 --port "$rport" --save '' --appendonly no \
      --pidfile "$state_dir/redis.pid" --daemonize yes --logfile "$state_dir/redis.log"
    etcd --name s1 --data-dir "$state_dir/etcd" \
      --listen-client-urls "http://127.0.0.1:$cport" --advertise-client-urls "http://127.0.0.1:$cport" \
      --listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
      --initial-cluster "s1=http://127.0.0.1:$pport" >"$state_dir/etcd.log" 2>&1 &
    echo $! >"$state_dir/etcd.pid"
    for _ in $(seq 1 100); do
      curl -fs "http://127.0.0.1:$cport/health" >/dev/null 2>&1 && break
      sleep 0.1
    done
    echo "REDIS_URL=redis://127.0.0.1:$rport"
    echo "ETCD_ENDPOINTS=http://127.0.0.1:$cport"
    ;;
  stop)
    for f in "$state_dir/redis.pid" "$state_dir/etcd.pid"; do
      [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
      rm -f "$f"
    done
    ;;
  *)
    echo "usage: $0 ensure | start [DIR] | stop [DIR]" >&2
    exit 2
    ;;
esac
