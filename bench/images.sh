#!/usr/bin/env bash
# `strata images` and `strata inspect` in a store of many images (target: under 50 ms each).
#
#   bash bench/images.sh [--images 1000] [--distinct 1000] [--runs 15] [--strata BIN] [--keep DIR | --reuse DIR]
#
# Makes a fresh store of IMAGES names for DISTINCT images: a tiny base image FROM scratch,
# DISTINCT - 1 images built on it that differ only in a --label (metadata only: no RUN, so
# each build is one short process; two at a time), and further tags of them. Then times each
# command RUNS times and prints markdown rows: median wall time and median CPU time
# (user + sys, which a busy machine does not inflate). Needs root, as builds do. --keep DIR
# keeps the store made; --reuse DIR times a store kept so instead of making one.
set -euo pipefail

images=1000
distinct=1000
runs=15
strata="${STRATA:-}"
keep=""
reuse=""
while [ $# -gt 0 ]; do
  case "$1" in
    --images) images="$2"; shift 2 ;;
    --distinct) distinct="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --strata) strata="$2"; shift 2 ;;
    --keep) keep="$2"; shift 2 ;;
    --reuse) reuse="$2"; shift 2 ;;
    *) echo "usage: $0 [--images N] [--distinct N] [--runs N] [--strata BIN] [--keep DIR | --reuse DIR]" >&2; exit 2 ;;
  esac
done
if [ "$distinct" -lt 2 ] || [ "$distinct" -gt "$images" ]; then
  echo "images: --distinct must be 2 to --images" >&2
  exit 2
fi
repo="$(cd "$(dirname "$0")/.." && pwd)"
if [ -z "$strata" ]; then
  for candidate in "$repo/build/cli/strata" "$repo/../build/cli/strata"; do
    [ -x "$candidate" ] && { strata="$candidate"; break; }
  done
fi
[ -x "$strata" ] || { echo "images: no strata binary (build it, or pass --strata BIN)" >&2; exit 2; }

work="$(mktemp -d /tmp/strata-bench-images.XXXXXX)"
cleanup() { [ -n "$keep" ] && mv "$work/root" "$keep" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
root="${reuse:-$work/root}"
s() { "$strata" --root "$root" "$@"; }

# ----- the store
make_store() {
  mkdir -p "$work/base" "$work/labelled"
  echo "bench" > "$work/base/file"
  printf 'FROM scratch\nCOPY file /file\nCMD ["/file"]\n' > "$work/base/Buildfile"
  printf 'FROM bench/base\nLABEL bench=images\n' > "$work/labelled/Buildfile"
  s build -q -t bench/base "$work/base" >/dev/null
  start=$(date +%s)
  # The base is one of the distinct images and one of the names.
  seq 1 $((distinct - 1)) | xargs -P 2 -I{} "$strata" --root "$root" build -q --label n={} -t bench/img-{} "$work/labelled" >/dev/null
  for ((i = distinct + 1; i <= images; i++)); do
    s tag "bench/img-$(( (i - 1) % (distinct - 1) + 1 ))" "bench/tag-$i"
  done
  echo "images: store made in $(( $(date +%s) - start )) s" >&2
}
[ -n "$reuse" ] || make_store
listed=$(s images -q | wc -l)
distinct=$(s images -q | sort -u | wc -l)
some=$(s images --format '{{.Repository}}:{{.Tag}}' --filter 'reference=bench/img-*' | sed -n 1,10p)

# ----- timing: median wall and CPU milliseconds over the runs
# time_runs [--before FILE-TO-REMOVE] COMMAND...
time_runs() {
  python3 - "$runs" "$@" <<'EOF'
import os, resource, statistics, subprocess, sys, time
runs, argv = int(sys.argv[1]), sys.argv[2:]
remove = None
if argv[0] == "--before":
    remove, argv = argv[1], argv[2:]
walls, cpus = [], []
for _ in range(runs):
    if remove and os.path.exists(remove):
        os.remove(remove)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    walls.append((time.perf_counter() - t0) * 1000)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpus.append((after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000)
print(f"{statistics.median(walls):.1f} ms | {statistics.median(cpus):.1f} ms")
EOF
}

echo "| command ($listed tags, $distinct images) | median wall | median CPU |"
echo "|---|---|---|"
echo "| \`strata --version\` (process start) | $(time_runs "$strata" --version) |"
echo "| \`strata images\` | $(time_runs "$strata" --root "$root" images) |"
echo "| \`strata images\`, facts cache cold (every config read) | $(time_runs --before "$root/local/images/facts" "$strata" --root "$root" images) |"
echo "| \`strata images --format json\` | $(time_runs "$strata" --root "$root" images --format json) |"
echo "| \`strata inspect bench/img-1\` | $(time_runs "$strata" --root "$root" inspect bench/img-1) |"
# shellcheck disable=SC2086
echo "| \`strata inspect\` of $(echo "$some" | wc -l) images | $(time_runs "$strata" --root "$root" inspect $some) |"
