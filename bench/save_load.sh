#!/usr/bin/env bash
# `strata save` and `strata load` of a ~1 GB image next to `skopeo copy` of the same image,
# and this machine's limits for the same bytes (issue 6: "at the speed of the disk and the
# compressor").
#
#   bash bench/save_load.sh [--mb 1024] [--runs 3] [--strata BIN] [--out FILE]
#
# The image (bench/lib.sh, shared with bench/push_pull.sh): a busybox base (FROM scratch,
# the host's busybox-static) and four layers of MB/4 each, two of pseudo-random bytes
# (incompressible) and two of text, so gzip has real work on half of it. Each run,
# alternating the tools:
#   save: strata save -o oci-archive     vs  skopeo copy oci:STORE/oci:NAME oci-archive:FILE
#   load: strata load -i oci-archive     vs  skopeo copy oci-archive:FILE oci:DIR:NAME
# save copies the stored (compressed) blobs; load verifies each blob's digest and
# decompresses each layer once to check its diff id. Reported: median seconds and MB/s
# of the archive's size, with the limits measured on the same archive: writing it to
# disk (cp + sync), sha256 and gunzip over it. Needs root, as builds do.
set -euo pipefail

mb=1024
runs=3
strata="${STRATA:-}"
out=""
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
bench_parse_flags save_load "$@"
bench_find_strata save_load
bench_require save_load skopeo openssl
[ -x /bin/busybox ] || { echo "save_load: /bin/busybox missing (busybox-static)" >&2; exit 2; }

work="$(mktemp -d /var/tmp/strata-bench-save-load.XXXXXX)"
trap 'rm -rf "$work"' EXIT
root="$work/root"
s() { "$strata" --root "$root" "$@"; }

# ----- the image
quarter=$((mb / 4))
echo "save_load: building a $mb MB image" >&2
bench_build_image "$strata" "$root" "$work" "$mb" 4 bench/big

for ((run = 1; run <= runs; run++)); do
  echo "save_load: run $run of $runs" >&2
  rm -rf "$work/out" && mkdir -p "$work/out"
  time_it "strata save" s save -o "$work/out/strata.tar" bench/big
  time_it "skopeo save" skopeo copy -q "oci:$root/oci:bench/big:latest" "oci-archive:$work/out/skopeo.tar"
  time_it "strata load" "$strata" --root "$work/out/root" load -i "$work/out/strata.tar"
  time_it "skopeo load" skopeo copy -q "oci-archive:$work/out/strata.tar" "oci:$work/out/layout:bench/big:latest"
done
archive_bytes=$(stat -c %s "$work/out/strata.tar")
archive_mb=$(awk -v b="$archive_bytes" 'BEGIN {printf "%.1f", b / 1048576}')

# ----- this machine's limits over the same bytes
for ((run = 1; run <= runs; run++)); do
  time_it "disk write (cp + sync)" cp "$work/out/strata.tar" "$work/out/copy.tar"
  rm -f "$work/out/copy.tar"
  time_it "sha256sum" sha256sum "$work/out/strata.tar"
done
gz_layers=()
for blob in "$root"/oci/blobs/sha256/*; do
  [ "$(stat -c %s "$blob")" -gt $((quarter * 1048576 / 4)) ] && gzip -t "$blob" 2>/dev/null && gz_layers+=("$blob")
done
for ((run = 1; run <= runs; run++)); do
  time_it "gunzip of the layers" sh -c 'cat "$@" | gzip -dc > /dev/null' gunzip "${gz_layers[@]}"
done

table() {
  echo "# save and load of a $mb MB image ($archive_mb MB archive)"
  echo
  echo "$("$strata" --version 2>/dev/null || echo strata), skopeo $(skopeo --version | awk '{print $3}'), $(nproc) cores, median of $runs runs, $(date -u +%Y-%m-%d), load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo
  echo "| operation | seconds | MB/s of the archive |"
  echo "|---|---:|---:|"
  for name in "strata save" "skopeo save" "strata load" "skopeo load" "disk write (cp + sync)" "sha256sum" "gunzip of the layers"; do
    local m
    m=$(printf '%s' "${samples[$name]}" | median)
    echo "| $name | $(printf '%.2f' "$m") | $(awk -v a="$archive_mb" -v m="$m" 'BEGIN {printf "%.0f", a / m}') |"
  done
  echo
  echo "save: oci-archive from the store's blobs (strata save vs skopeo copy oci: -> oci-archive:)."
  echo "load: from that archive into an empty store (strata load vs skopeo copy oci-archive: -> oci:),"
  echo "strata verifying every blob's digest and every layer's diff id. gunzip's row is over the"
  echo "gzip layers only (the bytes load decompresses)."
}
if [ -n "$out" ]; then table | tee "$out"; else table; fi
