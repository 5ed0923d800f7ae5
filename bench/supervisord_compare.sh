#!/usr/bin/env bash
# bench/supervisord_compare.sh [--quick]: Debian's supervisord next to our
# daemon, measured the same way. supervisord runs N `sleep infinity` programs
# (one [program:x], numprocs=N) from its own config, socket, pidfile and logs
# in a temp dir; its supervisorctl is timed from spawn to exit: `status` at 100
# and 1,000 processes, `stop x:*` of 100 running ones (`start x:*` between
# rounds, untimed), `version` (one small request); then supervisord's RSS.
# Our side is build/bench/ctl --json with the same counts. Prints both with
# ratios (supervisord / ours: above 1 means we are faster or smaller).
#
# supervisord is not installed (the package would start a system service, and
# its /usr/bin/supervisorctl clashes with ours): the .deb is fetched with
# `apt-get download` into $BUILD_DIR/supervisord-pkg/ once and unpacked there.
# Environment: BUILD_DIR (default build; it needs the daemon, i.e.
# -DSV_WITH_DAEMON=ON while that option exists). Exit 111: set-up failed.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."

runs=30 rounds=10
case ${1:-} in
  --quick) runs=10 rounds=3 ;;
  "") ;;
  *) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 100 ;;
esac
build=${BUILD_DIR:-build}
pkg=$build/supervisord-pkg
ours=$build/bench/ctl

die() { echo "supervisord_compare: $*" >&2; exit 111; }

# Unpacks supervisor's .deb into $pkg/root (once). apt-get download needs the
# package lists; they are fetched only when it fails without them.
fetch_supervisord() {
  [ -f "$pkg/root/usr/lib/python3/dist-packages/supervisor/supervisord.py" ] && return 0
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  mkdir -p "$pkg"
  pkg=$(cd "$pkg" && pwd)
  if ! (cd "$pkg" && apt-get download -q supervisor) >/dev/null 2>&1; then
    echo "==> apt-get update (for apt-get download supervisor)" >&2
    "${sudo[@]}" apt-get update -qq
    (cd "$pkg" && apt-get download -q supervisor) >/dev/null || die "apt-get download supervisor failed"
  fi
  local deb
  deb=$(ls -t "$pkg"/supervisor_*.deb | head -n 1)
  dpkg -x "$deb" "$pkg/root"
}

fetch_supervisord
site=$(cd "$pkg/root/usr/lib/python3/dist-packages" && pwd)
tmp=$(mktemp -d /tmp/sv-supervisord-XXXXXX)
sd_pid=

# Stops supervisord (SIGTERM: it stops its programs first), then removes $tmp.
# A supervisord that does not exit in 30 s is killed with its children.
cleanup() {
  if [ -n "$sd_pid" ] && kill -0 "$sd_pid" 2>/dev/null; then
    kill -TERM "$sd_pid" 2>/dev/null || true
    for _ in $(seq 300); do kill -0 "$sd_pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$sd_pid" 2>/dev/null; then
      for child in $(ps -o pid= --ppid "$sd_pid"); do kill -KILL "$child" 2>/dev/null || true; done
      kill -KILL "$sd_pid" 2>/dev/null || true
    fi
    wait "$sd_pid" 2>/dev/null || true
  fi
  sd_pid=
}
trap 'cleanup; rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

sctl() { PYTHONPATH=$site python3 -m supervisor.supervisorctl -c "$tmp/supervisord.conf" "$@"; }

# Starts supervisord with N `sleep infinity` programs and waits (polling
# status, at most 120 s) until all N are RUNNING.
start_supervisord() {
  local n=$1
  cat >"$tmp/supervisord.conf" <<EOF
[unix_http_server]
file=$tmp/supervisor.sock

[supervisord]
nodaemon=true
logfile=$tmp/supervisord.log
pidfile=$tmp/supervisord.pid
childlogdir=$tmp
minfds=$(ulimit -Hn | sed 's/unlimited/65536/')
minprocs=2000

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://$tmp/supervisor.sock

[program:x]
command=sleep infinity
numprocs=$n
process_name=%(program_name)s_%(process_num)d
startsecs=0
EOF
  PYTHONPATH=$site python3 -m supervisor.supervisord -c "$tmp/supervisord.conf" >"$tmp/stdout.log" 2>&1 &
  sd_pid=$!
  local end=$((SECONDS + 120)) running=0
  while [ "$SECONDS" -lt "$end" ]; do
    kill -0 "$sd_pid" 2>/dev/null || die "supervisord exited: $(tail -n 5 "$tmp/supervisord.log" "$tmp/stdout.log")"
    running=$(sctl status 2>/dev/null | grep -c ' RUNNING ' || true)
    [ "$running" -eq "$n" ] && return 0
    sleep 0.2
  done
  die "supervisord: $running of $n RUNNING after 120 s"
}

# time_ms CMD...: the wall time of CMD in ms (output discarded). An exit code
# other than $expect (default 0) ends the script.
time_ms() {
  local t0=$EPOCHREALTIME rc=0
  "$@" >/dev/null 2>&1 || rc=$?
  local t1=$EPOCHREALTIME
  [ "$rc" -eq "${expect:-0}" ] || die "$* exited $rc"
  echo "$(( ${t1/./} - ${t0/./} ))" | awk '{printf "%.3f\n", $1 / 1000}'
}

# percentile P < values: the value at index floor(P * count) of the sorted
# values, as bench/ctl's Percentile picks it.
percentile() { sort -g | awk -v p="$1" '{v[NR - 1] = $1} END {i = int(p * NR); if (i > NR - 1) i = NR - 1; print v[i]}'; }

# sample NAME N CMD...: runs CMD N times; records NAME.p50 and NAME.p90.
declare -A theirs
sample() {
  local name=$1 n=$2 values=""
  shift 2
  for _ in $(seq "$n"); do values+="$(time_ms "$@")"$'\n'; done
  theirs[$name.p50]=$(printf '%s' "$values" | percentile 0.5)
  theirs[$name.p90]=$(printf '%s' "$values" | percentile 0.9)
}

rss_mib() { awk '/^VmRSS:/ {printf "%.3f\n", $2 / 1024}' "/proc/$1/status"; }

echo "==> supervisord $(PYTHONPATH=$site python3 -c 'import supervisor.options as o; print(o.VERSION)' 2>/dev/null || echo '?'):" \
     "$runs runs, $rounds stop rounds" >&2
start_supervisord 100
sample status_100_workers "$runs" sctl status
sample version "$runs" sctl version
stops=""
for _ in $(seq "$rounds"); do
  stops+="$(time_ms sctl stop 'x:*')"$'\n'
  time_ms sctl start 'x:*' >/dev/null
done
theirs[stop_100_idle_workers.p50]=$(printf '%s' "$stops" | percentile 0.5)
theirs[stop_100_idle_workers.p90]=$(printf '%s' "$stops" | percentile 0.9)
cleanup

start_supervisord 1000
sample status_1000_workers "$runs" sctl status
theirs[daemon_rss_with_1000_workers]=$(rss_mib "$sd_pid")
cleanup

declare -A mine
if [ -x "$ours" ]; then
  echo "==> $ours --json --runs $runs --rounds $rounds" >&2
  while IFS= read -r line; do
    name=$(sed -n 's/.*"name":"\([^"]*\)".*/\1/p' <<<"$line")
    value=$(sed -n 's/.*"value":\([-0-9.e+]*\).*/\1/p' <<<"$line")
    [ -n "$name" ] && mine[$name]=$value
  done < <("$ours" --json --runs "$runs" --rounds "$rounds")
else
  echo "supervisord_compare: no $ours (configure $build with -DSV_WITH_DAEMON=ON, or set BUILD_DIR)" >&2
fi

printf '%-40s %12s %12s %8s\n' "measure (supervisorctl, spawn to exit)" supervisord ours ratio
row() {
  local label=$1 key=$2 unit=$3 a=${theirs[$2]:-} b=${mine[$2]:-}
  awk -v l="$label" -v u="$unit" -v a="$a" -v b="$b" 'BEGIN {
    r = (a != "" && b != "" && b + 0 > 0) ? sprintf("%.1fx", a / b) : "-"
    printf "%-40s %9s %-2s %9s %-2s %8s\n", l, (a == "" ? "-" : sprintf("%.1f", a)), u,
           (b == "" ? "-" : sprintf("%.1f", b)), u, r }'
}
row "status, 100 workers, p50" status_100_workers.p50 ms
row "status, 100 workers, p90" status_100_workers.p90 ms
row "status, 1000 workers, p50" status_1000_workers.p50 ms
row "status, 1000 workers, p90" status_1000_workers.p90 ms
row "stop 100 idle workers, p50" stop_100_idle_workers.p50 ms
row "stop 100 idle workers, p90" stop_100_idle_workers.p90 ms
row "version (one small request), p50" version.p50 ms
row "daemon RSS with 1000 workers" daemon_rss_with_1000_workers MiB
[ -x "$ours" ] || exit 111
