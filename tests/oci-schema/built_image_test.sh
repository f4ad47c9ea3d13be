#!/usr/bin/env bash
# Builds the busybox and hello examples with the real strata binary into a temporary store
# and checks the store's OCI layout with validate_oci.py: every document against the
# image-spec schemas and upstream's extra rules, every blob against its digest.
#   built_image_test.sh STRATA_BINARY CONFORMANCE_DIR
# Exits 77 (ctest's skip code) when not root or when the conformance data is absent.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 STRATA_BINARY CONFORMANCE_DIR" >&2
  exit 2
fi
strata=$1
conformance=$2
here=$(cd "$(dirname "$0")" && pwd)
examples=$here/../../examples

if [ "$(id -u)" -ne 0 ]; then
  echo "SKIPPED: building images needs root (user namespaces, overlayfs, cgroups)"
  exit 77
fi
if [ ! -d "$conformance/schema" ]; then
  echo "SKIPPED: conformance data $conformance absent"
  exit 77
fi

work=$(mktemp -d /tmp/strata-oci-schema.XXXXXX)
trap 'rm -rf "$work"' EXIT

mkdir "$work/context"
cp -r "$examples/busybox" "$examples/hello" "$work/context/"
# As examples/busybox/Buildfile says: the image is made of the host's static busybox.
cp /bin/busybox "$work/context/busybox/busybox"

root=$work/root
"$strata" --root "$root" build -t busybox "$work/context/busybox"
"$strata" --root "$root" build -t hello "$work/context/hello"

validate() { /usr/bin/python3 "$here/validate_oci.py" layout --conformance "$conformance" "$1"; }
validate "$root/oci"

# The layout check must be able to fail: in a copy, append a byte to the first manifest.
cp -r "$root/oci" "$work/damaged"
manifest=$(/usr/bin/python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"].split(":")[1])' \
  "$work/damaged/index.json")
printf ' ' >> "$work/damaged/blobs/sha256/$manifest"
if damaged_report=$(validate "$work/damaged"); then
  echo "FAIL: a layout with a damaged manifest blob passed:"
  echo "$damaged_report"
  exit 1
fi
if ! grep -q "blobs/sha256/$manifest has sha256:.*not its name" <<<"$damaged_report"; then
  echo "FAIL: the damaged manifest blob was not reported:"
  echo "$damaged_report"
  exit 1
fi
echo "damaged copy rejected as expected"
