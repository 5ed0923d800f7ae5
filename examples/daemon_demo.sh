#!/usr/bin/env bash
# The main demo: the supervisor daemon on examples/pools.yaml, driven the way
# an operator drives it, with supervisorctl and curl. Run by ./run demo after
# the build; leaves nothing running (the daemon is shut down on exit).
#   examples/daemon_demo.sh [BUILD_DIR]
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
config=examples/pools.yaml
socket=build/run/supervisor.sock
log=$(mktemp /tmp/supervisor-demo.XXXXXX.log)
ctl() { "$build/ctl/supervisorctl" -c "$config" "$@"; }
if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold= plain=; fi
show() { printf '\n%s$ %s%s\n' "$bold" "$*" "$plain"; }
run() { show "$@"; "$@"; echo "(exit $?)"; }

daemon_pid=
cleanup() {
  if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
    kill -TERM "$daemon_pid"; wait "$daemon_pid"
  fi
  rm -f "$log"
}
trap cleanup EXIT

show "supervisor -c $config &"
"$build/daemon/supervisor" -c "$config" 2>"$log" &
daemon_pid=$!
# Until the control socket answers and every worker is READY (at most 10 s).
for _ in $(seq 100); do
  ctl --timeout 1s status >/dev/null 2>&1 && break
  kill -0 "$daemon_pid" 2>/dev/null || { echo "the daemon exited:"; cat "$log"; exit 1; }
  sleep 0.1
done
sed 's/^/  daemon log: /' "$log"

supervisorctl() { ctl "$@"; }
run supervisorctl status
run supervisorctl call sqlite query "SELECT sqlite_version()"
show 'supervisorctl call zlib compress "$(yes the quick brown fox | head -c 9000)" | wc -c'
yes the quick brown fox | head -c 9000 | ctl call zlib compress - | wc -c

echo
echo "# A query that never returns: the worker is SIGKILLed at the pool's 500 ms call_timeout"
echo "# and a replacement takes its place; the pool serves on."
run supervisorctl call sqlite query "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c"
run supervisorctl call sqlite query "SELECT 'still serving'"
run supervisorctl status sqlite

echo
echo "# The same API with curl (HTTP/1.1 + JSON over the Unix socket, docs/api.md):"
show "curl --unix-socket $socket http://localhost/v1/pools/sqlite"
curl -s --max-time 5 --unix-socket "$socket" http://localhost/v1/pools/sqlite | head -c 400; echo ...
show "curl --unix-socket $socket -X POST --data-binary 'hi there' 'http://localhost/v1/pools/echo/call?method=echo'"
curl -s --max-time 5 --unix-socket "$socket" -X POST --data-binary 'hi there' 'http://localhost/v1/pools/echo/call?method=echo'; echo
show "curl --unix-socket $socket http://localhost/metrics | grep 'pool=\"sqlite\"' | grep -v bucket"
curl -s --max-time 5 --unix-socket "$socket" http://localhost/metrics | grep 'pool="sqlite"' | grep -v bucket
show "curl --unix-socket $socket http://localhost/readyz"
curl -s --max-time 5 --unix-socket "$socket" http://localhost/readyz

run supervisorctl scale echo 3
run supervisorctl status echo
run supervisorctl restart zlib:0
run supervisorctl stop sqlite
run supervisorctl status
run supervisorctl start sqlite
run supervisorctl reread
run supervisorctl shutdown
wait "$daemon_pid"
echo "(the daemon exited with $?)"
daemon_pid=
