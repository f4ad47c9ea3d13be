#!/usr/bin/env bash
# The main job: build the busybox base image FROM scratch, build the multi-stage hello
# image on it, and run it. Uses the store at $STRATA_ROOT (default /var/lib/strata).
set -euo pipefail
cd "$(dirname "$0")/.."
strata=./build/cli/strata

cp /bin/busybox examples/busybox/busybox
"$strata" build -t busybox examples/busybox
"$strata" build -t hello examples/hello
"$strata" images
echo "--- strata run hello"
"$strata" run hello
