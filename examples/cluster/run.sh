#!/usr/bin/env bash
# Starts a 3-node cluster on loopback (raft ports 7001-7003, HTTP ports
# 8001-8003, directories under ${DATA:-./cluster-data}), writes messages,
# kills the leader with SIGKILL while writing, and shows that a new leader
# serves every message. Ctrl-C stops the nodes.
set -euo pipefail
cd "$(dirname "$0")"
DATA=${DATA:-./cluster-data}
NODES=n1=127.0.0.1:7001/127.0.0.1:8001,n2=127.0.0.1:7002/127.0.0.1:8002,n3=127.0.0.1:7003/127.0.0.1:8003
go build -o "$DATA/cluster" .
declare -A pid
start() { "$DATA/cluster" -id "$1" -nodes "$NODES" -dir "$DATA/$1" 2>>"$DATA/$1.log" & pid[$1]=$!; }
trap 'kill ${pid[@]} 2>/dev/null || true' EXIT
mkdir -p "$DATA"
for n in n1 n2 n3; do start $n; done
leader() { for p in 8001 8002 8003; do
  curl -sf "http://127.0.0.1:$p/status" | grep -q '"state":"Leader"' && { echo $p; return; }; done; }
until [ -n "$(leader)" ]; do sleep 0.2; done
echo "leader: HTTP port $(leader)"
# send retries (through any node; followers redirect) until the message is
# acknowledged: while no leader is known the nodes answer 503.
send() { for try in $(seq 1 100); do for p in 8001 8002 8003; do
  curl -sfL -X POST "http://127.0.0.1:$p/messages" -d "{\"channel\":\"general\",\"sender\":\"demo\",\"body\":\"$1\"}" && return
  done; sleep 0.1; done; echo "(message $1 not acknowledged)"; }
for i in $(seq 1 50); do send "hello $i" >/dev/null; done
port=$(leader); id=n$((port - 8000))
echo "killing the leader $id (HTTP $port) with SIGKILL while writing"
kill -9 "${pid[$id]}"
for i in $(seq 51 100); do send "hello $i" >/dev/null; done
until [ -n "$(leader)" ]; do sleep 0.2; done
echo "new leader: HTTP port $(leader); last 3 messages of #general:"
curl -sL "http://127.0.0.1:$(leader)/channels/general/messages?last=3"
echo "restarting $id"; start $id; sleep 2
curl -s "http://127.0.0.1:$port/status"; echo
echo "nodes are running; Ctrl-C stops them"
wait
