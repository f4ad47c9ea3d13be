#!/usr/bin/env bash
# Runs the whole test suite through ctest: unit tests, conformance data, and the
# privileged integration tests (namespaces, overlayfs, cgroups, skopeo/umoci/runc).
#   STRATA_SANITIZE=1  runs it against the ASan/UBSan build.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=build
[ "${STRATA_SANITIZE:-0}" = 1 ] && build_dir=build-asan
# One ctest entry per core at a time: much of the integration tests' time is waiting (on
# processes, registries, disks), so two entries at once take about 40% less time here.
ctest --test-dir "$build_dir" --output-on-failure --timeout 900 --parallel "$(nproc)" "$@"
