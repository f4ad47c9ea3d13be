#!/usr/bin/env bash
# `strata push` and `strata pull` of a ~500 MB image against `skopeo copy` of the same image,
# through Debian's docker-registry (distribution 2.8) on 127.0.0.1 (issues 7 and 8).
#
#   bash bench/push_pull.sh [--mb 500] [--runs 3] [--layers 2] [--strata BIN] [--out FILE]
#
# The image is built as save_load.sh's is (bench/lib.sh): a busybox base (FROM scratch, the
# host's busybox-static; three small layers) and LAYERS layers of MB/LAYERS each, alternately
# pseudo-random bytes and text: five layers by default (--layers 4 is save_load's seven). Each run starts a registry of its own (a free port, an
# empty storage directory), so no blob is in it and neither tool can mount one from an
# earlier run's repository (both remember where they pushed blobs); then, alternating
# which tool goes first:
#   push: strata push IMAGE REG/strata-N:1   vs  skopeo copy oci:STORE/oci:IMAGE docker://REG/skopeo-N:1
#   pull: strata --root EMPTY pull REG/strata-N:1  vs  skopeo copy docker://REG/skopeo-N:1 oci:EMPTY:NAME
# strata talks plain http to a loopback registry by default; skopeo is given
# --dest-tls-verify=false / --src-tls-verify=false. Outside the timings every run checks
# that the registry's access log shows every blob uploaded to each repository (none mounted
# or skipped), that both repositories hold the manifest the store has (same digest), that
# each pull stored that digest, and that every pulled blob hashes to its name (strata
# fsck; sha256 of skopeo's layout): a wrong image or an unmeasured push fails the bench.
# Reported: median seconds, MB/s of the image's blobs (what goes over the wire), the
# strata/skopeo time ratio, and peak RSS (/usr/bin/time). Needs root, as builds do.
set -euo pipefail

command_line="bash bench/push_pull.sh $*"
mb=500
runs=3
layers=2
strata="${STRATA:-}"
out=""
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
bench_parse_flags push_pull "$@"
bench_find_strata push_pull
bench_require push_pull skopeo docker-registry openssl curl python3
[ -x /usr/bin/time ] || { echo "push_pull: /usr/bin/time missing (Debian's time)" >&2; exit 2; }
[ -x /bin/busybox ] || { echo "push_pull: /bin/busybox missing (busybox-static)" >&2; exit 2; }

work="$(mktemp -d /var/tmp/strata-bench-push-pull.XXXXXX)"
registry_pid=""
stop_registry() {
  [ -n "$registry_pid" ] || return 0
  kill -TERM "$registry_pid" 2>/dev/null || true
  wait "$registry_pid" 2>/dev/null || true
  registry_pid=""
  rm -rf "$work/registry"
}
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  set +e
  stop_registry
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
root="$work/root"
fail() { echo "push_pull: FAILED: $*" >&2; exit 1; }

# ----- JSON and blobs (python3: the OCI layout's index.json and manifests)
layout_digest() {  # LAYOUT [REF]: the digest of the manifest named REF (or of the only one)
  python3 - "$@" <<'EOF'
import json, sys
index = json.load(open(sys.argv[1] + "/index.json"))
found = [m["digest"] for m in index["manifests"]
         if len(sys.argv) < 3 or m.get("annotations", {}).get("org.opencontainers.image.ref.name") == sys.argv[2]]
if len(found) != 1:
    sys.exit(f"{sys.argv[1]}: {len(found)} manifests match, expected 1: {index}")
print(found[0])
EOF
}
image_facts() {  # LAYOUT DIGEST: "BYTES LAYERS", BYTES being the manifest, its config and its layers
  python3 - "$@" <<'EOF'
import json, os, sys
path = lambda d: os.path.join(sys.argv[1], "blobs", *d.split(":"))
manifest = json.load(open(path(sys.argv[2])))
blobs = [manifest["config"]] + manifest["layers"]
print(os.path.getsize(path(sys.argv[2])) + sum(b["size"] for b in blobs), len(manifest["layers"]))
EOF
}
verify_layout() {  # LAYOUT DIGEST: every blob the manifest needs is there, and every blob hashes to its name
  python3 - "$@" <<'EOF'
import hashlib, json, os, sys
layout, digest = sys.argv[1:]
path = lambda d: os.path.join(layout, "blobs", *d.split(":"))
manifest = json.load(open(path(digest)))
for blob in [manifest["config"]] + manifest["layers"]:
    if os.path.getsize(path(blob["digest"])) != blob["size"]:
        sys.exit(f"{blob['digest']}: size differs from the manifest's")
directory = os.path.join(layout, "blobs", "sha256")
for name in os.listdir(directory):
    h = hashlib.sha256()
    with open(os.path.join(directory, name), "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    if h.hexdigest() != name:
        sys.exit(f"blob {name} hashes to {h.hexdigest()}")
EOF
}
registry_digest() {  # REFERENCE: sha256 of the manifest bytes the registry serves
  skopeo inspect --raw --tls-verify=false "docker://$1" > "$work/manifest" || fail "no manifest at $1"
  echo "sha256:$(sha256sum < "$work/manifest" | cut -d' ' -f1)"
}

# ----- the registry: Debian's docker-registry with a config like tests/common/local_registry.hpp's
start_registry() {
  local port
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  mkdir -p "$work/registry/data"
  cat > "$work/registry/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $work/registry/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
EOF
  docker-registry serve "$work/registry/config.yml" > "$work/registry/log" 2>&1 &
  registry_pid=$!
  for _ in $(seq 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v2/")" = 200 ] && { registry="127.0.0.1:$port"; return 0; }
    kill -0 "$registry_pid" 2>/dev/null || break
    sleep 0.1
  done
  fail "docker-registry did not start: $(tail -n 3 "$work/registry/log" | tr '\n' ' ')"
}

# ----- the image
echo "push_pull: building a $mb MB image" >&2
bench_build_image "$strata" "$root" "$work" "$mb" "$layers" bench/big
digest=$(layout_digest "$root/oci" bench/big:latest)
read -r image_bytes image_layers < <(image_facts "$root/oci" "$digest")
image_mb=$(awk -v b="$image_bytes" 'BEGIN {printf "%.1f", b / 1048576}')

# ----- timing: time_it (bench/lib.sh) around /usr/bin/time for the peak RSS
declare -A rss_kb
to_log() { "${@:2}" > "$1" 2>&1; }  # LOG COMMAND...
timed() {  # NAME COMMAND...: time_it, the output to $work/log/NAME, the peak RSS noted
  local log="$work/log/${1// /-}"
  mkdir -p "$work/log"
  time_it "$1" to_log "$log" /usr/bin/time -f %M -o "$log.rss" "${@:2}" || { cat "$log" >&2; fail "$1: ${*:2}"; }
  rss_kb[$1]+="$(tail -n 1 "$log.rss")"$'\n'
}
check_uploaded() {  # REPOSITORY: the registry's access log shows every blob uploaded to it (none mounted or skipped)
  local uploads
  uploads=$(grep -c -E "\"PUT /v2/$1/blobs/uploads/[^ ]* HTTP/1\.[01]\" 201 " "$work/registry/log" || true)
  [ "$uploads" = $((image_layers + 1)) ] ||
    fail "$registry/$1 got $uploads blob uploads, the image has $((image_layers + 1)) blobs: the push was not measured"
}
push_strata() { timed "strata push" "$strata" --root "$root" push bench/big "$registry/strata-$run:1"; }
push_skopeo() { timed "skopeo push" skopeo copy --dest-tls-verify=false "oci:$root/oci:bench/big:latest" "docker://$registry/skopeo-$run:1"; }
pull_strata() { timed "strata pull" "$strata" --root "$work/pull/root" pull "$registry/strata-$run:1"; }
pull_skopeo() {
  timed "skopeo pull" skopeo copy --src-tls-verify=false "docker://$registry/skopeo-$run:1" "oci:$work/pull/layout:bench/big:latest"
}

for ((run = 1; run <= runs; run++)); do
  echo "push_pull: run $run of $runs" >&2
  start_registry
  rm -rf "$work/pull" && mkdir -p "$work/pull"
  if ((run % 2)); then push_strata; push_skopeo; else push_skopeo; push_strata; fi
  for repository in strata skopeo; do
    check_uploaded "$repository-$run"
    pushed=$(registry_digest "$registry/$repository-$run:1")
    [ "$pushed" = "$digest" ] || fail "$registry/$repository-$run:1 is $pushed, the store's image is $digest"
  done
  if ((run % 2)); then pull_strata; pull_skopeo; else pull_skopeo; pull_strata; fi
  pulled=$(layout_digest "$work/pull/root/oci")
  [ "$pulled" = "$digest" ] || fail "strata pulled $pulled, pushed $digest"
  "$strata" --root "$work/pull/root" fsck > "$work/log/fsck" 2>&1 || { cat "$work/log/fsck" >&2; fail "strata fsck of the pulled store"; }
  pulled=$(layout_digest "$work/pull/layout" bench/big:latest)
  [ "$pulled" = "$digest" ] || fail "skopeo pulled $pulled, pushed $digest"
  verify_layout "$work/pull/layout" "$digest" || fail "skopeo's pulled layout"
  stop_registry
done
rm -rf "$work/pull"

seconds() { printf '%s' "${samples[$1]}" | median; }
table() {
  echo "# push and pull of a $mb MB image ($image_mb MB of blobs, $image_layers layers)"
  echo
  echo "Made by \`$command_line\` (bench/push_pull.sh; run it again to regenerate this page)."
  echo "$("$strata" --version 2>/dev/null || echo strata), skopeo $(skopeo --version | awk '{print $3}'), $(docker-registry --version | awk '{print $NF}') docker-registry on 127.0.0.1, $(nproc) cores, median of $runs runs, $(date -u +%Y-%m-%d), load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo
  echo "| operation | seconds | MB/s of the blobs | strata / skopeo | peak RSS (MB) |"
  echo "|---|---:|---:|---:|---:|"
  local op tool m ratio r
  for op in push pull; do
    for tool in strata skopeo; do
      m=$(seconds "$tool $op")
      ratio=""
      [ "$tool" = strata ] && ratio=$(awk -v a="$m" -v b="$(seconds "skopeo $op")" 'BEGIN {printf "%.2f", a / b}')
      r=$(printf '%s' "${rss_kb[$tool $op]}" | median)
      echo "| $tool $op | $(printf '%.2f' "$m") | $(awk -v a="$image_mb" -v m="$m" 'BEGIN {printf "%.0f", a / m}') | $ratio | $(awk -v k="$r" 'BEGIN {printf "%.0f", k / 1024}') |"
    done
  done
  echo
  echo "push: from the store to an empty repository of a fresh registry (strata push, default"
  echo "--chunk-size, vs skopeo copy oci: -> docker://), every blob uploaded. pull: from that"
  echo "registry into an empty store (strata pull, which checks each blob's size and digest before"
  echo "the store names it) vs skopeo copy docker:// -> oci: into an empty directory. Checked outside"
  echo "the timings: the registry and both pulls hold the store's manifest digest, and every pulled"
  echo "blob hashes to its name. MB/s: the image's blobs (manifest, config, layers) over the median."
}
if [ -n "$out" ]; then table | tee "$out"; else table; fi
