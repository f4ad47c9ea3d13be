# shellcheck shell=bash
# Shared by bench/save_load.sh and bench/push_pull.sh: sourced, not run.
#   bench_parse_flags NAME ARGS...
#                              --mb, --runs, --strata, --out (and --layers where the caller
#                              has set $layers) into the variables of those names
#   bench_require NAME TOOL... exits with a message when a tool is missing
#   bench_find_strata NAME     sets $strata (when empty) to build/cli/strata or ../build/cli/strata
#   bench_build_image STRATA ROOT DIR MB LAYERS TAG
#                              the benchmarks' image, built into the store at ROOT
#   now, elapsed, median, sample, time_it: wall-clock samples and their medians

bench_repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

bench_parse_flags() {  # NAME ARGS...
  local name=$1
  shift
  local usage="usage: bash bench/$name.sh [--mb N] [--runs N]${layers:+ [--layers N]} [--strata BIN] [--out FILE]"
  while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || { echo "$usage" >&2; exit 2; }
    case "$1" in
      --mb) mb="$2" ;;
      --runs) runs="$2" ;;
      --layers) [ -n "${layers:-}" ] || { echo "$usage" >&2; exit 2; }; layers="$2" ;;
      --strata) strata="$2" ;;
      --out) out="$2" ;;
      *) echo "$usage" >&2; exit 2 ;;
    esac
    shift 2
  done
}

bench_require() {  # NAME TOOL...
  local name=$1 tool
  shift
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "$name: $tool is not installed (scripts/setup.sh installs it)" >&2; exit 2; }
  done
}

bench_find_strata() {  # NAME: the script's name for its messages
  if [ -z "${strata:-}" ]; then
    local candidate
    for candidate in "$bench_repo/build/cli/strata" "$bench_repo/../build/cli/strata"; do
      [ -x "$candidate" ] && { strata="$candidate"; break; }
    done
  fi
  [ -x "${strata:-}" ] || { echo "$1: no strata binary (build it, or pass --strata BIN)" >&2; exit 2; }
}

# A busybox base (FROM scratch, the host's busybox-static, as examples/busybox builds it:
# three layers) tagged bench/busybox, then TAG on it: LAYERS more layers of MB/LAYERS each,
# alternately pseudo-random bytes (incompressible; AES-CTR of zeros, so the same bytes every
# time) and text (gzip has real work on it). Needs openssl.
bench_build_image() {  # STRATA ROOT DIR MB LAYERS TAG
  local bin=$1 root=$2 dir=$3 mb=$4 layers=$5 tag=$6
  local each=$((mb / layers)) i random=0 text=0
  [ "$each" -gt 0 ] || { echo "bench_build_image: $mb MB is less than 1 MB per layer" >&2; return 2; }
  mkdir -p "$dir/base" "$dir/big"
  cp /bin/busybox "$dir/base/busybox"
  cp "$bench_repo/examples/busybox/Buildfile" "$dir/base/Buildfile"
  "$bin" --root "$root" build -q -t bench/busybox "$dir/base" >/dev/null
  {
    echo "FROM bench/busybox"
    for ((i = 1; i <= layers; i++)); do
      if ((i % 2)); then
        random=$((random + 1))
        head -c "${each}m" /dev/zero | openssl enc -aes-128-ctr -nosalt -pbkdf2 -pass "pass:strata-bench-$random" > "$dir/big/random$random"
        echo "COPY random$random /random$random"
      elif (((text += 1) % 2)); then
        echo "RUN seq 1 100000000 | head -c ${each}m > /text$text"
      else
        echo "RUN yes 'the quick brown fox jumps over the lazy dog' | head -c ${each}m > /text$text"
      fi
    done
  } > "$dir/big/Buildfile"
  "$bin" --root "$root" build -q -t "$tag" "$dir/big" >/dev/null
  rm -f "$dir/big"/random*
}

now() { date +%s.%N; }
elapsed() { awk -v a="$(now)" -v b="$1" 'BEGIN {printf "%.3f", a - b}'; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
declare -A samples
sample() { samples[$1]+="$2"$'\n'; }
time_it() {  # NAME COMMAND...: runs it, syncs, records the seconds; returns its failure
  local start
  sync
  start=$(now)
  "${@:2}" >/dev/null || return
  sync
  sample "$1" "$(elapsed "$start")"
}
