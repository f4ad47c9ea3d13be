#!/usr/bin/env bash
# Runs the whole test suite through ctest: unit tests, conformance data, and the
# privileged integration tests (namespaces, overlayfs, cgroups, skopeo/umoci/runc).
#   STRATA_SANITIZE=1  runs it against the ASan/UBSan build.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=build
[ "${STRATA_SANITIZE:-0}" = 1 ] && build_dir=build-asan
ctest --test-dir "$build_dir" --output-on-failure --timeout 900 "$@"
