#!/usr/bin/env bash
# strata vs BuildKit (docker 20.10) vs buildah, on this machine, in one command:
#
#   bash bench/run.sh [--runs N] [--quick] [--report FILE] [--startup-repeats N]
#
#   --runs N     runs of every workload x builder, interleaved; the report gives medians (default 3)
#   --quick      1 run at small sizes: a smoke test (results and report go to bench/results/quick/
#                unless --report is given; a full run writes bench/results/ and docs/benchmarks.md)
#   STRATA=path  the strata binary (default: build/cli/strata, else build/strata; built with
#                scripts/setup.sh when missing); STRATA_COMMIT=rev names its commit when it was
#                built outside this repository's build/
#   BENCH_TMP    where the scratch filesystem's image goes (default /var/tmp); BENCH_FS_SIZE (6G)
#
# Then bench/push_pull.sh (--runs N; 500 MB, or 40 MB with --quick) writes push-pull.md next
# to the report: strata push/pull against skopeo copy through a local docker-registry.
#
# Steps: install missing Debian packages; make a fresh ext4 on a loop device (the root fs here
# is ext4 without a journal mounted `discard`, where creating files right after deleting many
# is slow); generate the workloads into it; start a private dockerd on it; run the driver
# (bench.py); write the report (report.py). Everything is undone on exit, also on Ctrl-C.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
command_line="bash bench/run.sh $*"
bench="$repo/bench"
runs=3
quick=0
report=""
startup_repeats=10
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --quick) quick=1; shift ;;
    --report) report="$2"; shift 2 ;;
    --startup-repeats) startup_repeats="$2"; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
if [ "$quick" = 1 ]; then
  [ "$runs" = 3 ] && runs=1
  [ "$startup_repeats" = 10 ] && startup_repeats=3
  report=${report:-$bench/results/quick/benchmarks.md}
fi
report=${report:-$repo/docs/benchmarks.md}
[ "$(id -u)" = 0 ] || { echo "run.sh: must run as root (loop mounts, dockerd, runc)" >&2; exit 1; }
log() { echo "[run.sh $(date +%H:%M:%S)] $*"; }

# --- packages ----------------------------------------------------------------------------------
packages=(docker.io buildah runc skopeo umoci time zstd openssl busybox-static e2fsprogs util-linux python3 docker-registry curl)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- strata ------------------------------------------------------------------------------------
if [ -z "${STRATA:-}" ]; then
  for candidate in "$repo/build/cli/strata" "$repo/build/strata"; do
    [ -x "$candidate" ] && { STRATA=$candidate; break; }
  done
  if [ -z "${STRATA:-}" ]; then
    log "no strata binary in $repo/build: running scripts/setup.sh"
    bash "$repo/scripts/setup.sh"
    STRATA="$repo/build/cli/strata"
  fi
fi
STRATA=$(realpath "$STRATA")
[ -x "$STRATA" ] || { echo "run.sh: STRATA=$STRATA is not executable" >&2; exit 1; }

# --- scratch filesystem, dockerd, and their cleanup ----------------------------------------------
scratch=$(mktemp -d "${BENCH_TMP:-/var/tmp}/strata-bench.XXXXXX")
mnt="$scratch/mnt"
dockerd_pid=""

stop_pid() {  # stop_pid PID NAME: TERM, wait up to 30 s, then KILL
  local pid=$1 name=$2
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
  log "$name ($pid) did not stop: killing it"
  kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  trap '' PIPE HUP  # `run.sh | tee log` and Ctrl-C: tee is gone, the cleanup must still run
  set +e
  log "cleaning up"
  if [ -n "$dockerd_pid" ]; then
    local containerd_pid
    containerd_pid=$(cat "$mnt/docker/exec/containerd/containerd.pid" 2>/dev/null)
    stop_pid "$dockerd_pid" dockerd
    [ -n "$containerd_pid" ] && stop_pid "$containerd_pid" containerd  # dockerd stops it; in case it did not
  fi
  if [ -d "$mnt/runc-state" ]; then
    for id in $(runc --root "$mnt/runc-state" list -q 2>/dev/null); do runc --root "$mnt/runc-state" delete -f "$id"; done
  fi
  # Deepest first: builders' leftover overlay mounts, then the loop filesystem itself.
  if mountpoint -q "$mnt"; then
    findmnt -R -n -l -o TARGET "$mnt" | sort -r | while read -r m; do
      umount "$m" 2>/dev/null || umount -l "$m"
    done
  fi
  rm -rf "$scratch"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "scratch ext4 (${BENCH_FS_SIZE:-6G}, sparse) at $mnt"
mkdir -p "$mnt"
truncate -s "${BENCH_FS_SIZE:-6G}" "$scratch/fs.img"
mkfs.ext4 -q -F "$scratch/fs.img"
mount -o loop "$scratch/fs.img" "$mnt"

log "generating workloads"
python3 "$bench/gen_workloads.py" --out "$mnt/workloads" $([ "$quick" = 1 ] && echo --quick)
mkdir -p "$mnt/busybox"
cp "$repo/examples/busybox/Buildfile" /bin/busybox "$mnt/busybox/"

# A private dockerd: own socket, data-root, exec-root and pidfile; no bridge, no iptables,
# no sysctl changes. Its containerd is the one it starts under the exec-root.
docker_host="unix://$mnt/docker/docker.sock"
docker_unavailable=""
start_dockerd() {
  local d="$mnt/docker"
  mkdir -p "$d/data" "$d/exec"
  # setsid: a Ctrl-C reaches the driver, and dockerd is stopped by cleanup(), after it.
  setsid dockerd -H "$docker_host" --data-root "$d/data" --exec-root "$d/exec" --pidfile "$d/dockerd.pid" \
    --bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
    --storage-driver overlay2 --log-level warn >"$d/dockerd.log" 2>&1 &
  dockerd_pid=$!
  for _ in $(seq 150); do
    /usr/bin/docker -H "$docker_host" version >/dev/null 2>&1 && return 0
    kill -0 "$dockerd_pid" 2>/dev/null || break
    sleep 0.2
  done
  docker_unavailable="dockerd did not start: $(tail -n 2 "$d/dockerd.log" | tr '\n' ' ')"
  log "$docker_unavailable"
}
log "starting dockerd"
start_dockerd

results="$bench/results"
[ "$quick" = 1 ] && results="$bench/results/quick"  # a smoke test keeps the full run's raw data
rm -rf "$results/logs"
mkdir -p "$results"
python3 "$bench/bench.py" --work "$mnt" --workloads "$mnt/workloads" --results "$results" \
  --runs "$runs" --startup-repeats "$startup_repeats" --strata "$STRATA" --repo "$repo" \
  --busybox-ctx "$mnt/busybox" --docker-host "$docker_host" --dockerd-pidfile "$mnt/docker/dockerd.pid" \
  --docker-unavailable "$docker_unavailable" --command-line "$command_line" \
  --strata-commit "${STRATA_COMMIT:-}"
python3 "$bench/report.py" "$results/raw.json" --out "$report" --csv "$results/summary.csv"
log "report: $report"
push_pull_report="$(dirname "$report")/push-pull.md"
log "push and pull against skopeo (bench/push_pull.sh)"
bash "$bench/push_pull.sh" --mb "$([ "$quick" = 1 ] && echo 40 || echo 500)" --runs "$runs" --strata "$STRATA" \
  --out "$push_pull_report" >/dev/null
log "push and pull: $push_pull_report"
