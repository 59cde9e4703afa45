#!/usr/bin/env bash
# Builds versitygw (a real S3 gateway storing objects as plain files, Apache-2.0) from the Go
# module proxy into a cache folder outside the work tree, for the tests of s3:// sources. A warm
# cache makes this a no-op.
#
#   tests/e2e/build_versitygw.sh             # prints the path of the `versitygw` binary last
set -euo pipefail

version="${VERSITYGW_VERSION:-v1.8.0}"
cache_root="${VERSITYGW_CACHE:-$HOME/.cache/pulumi-service-e2e}"
out="$cache_root/versitygw-$version"
bin="$out/bin/versitygw"

if [[ -x "$bin" && -f "$out/.complete" ]]; then
    echo "$bin"
    exit 0
fi
command -v go >/dev/null || { echo "build_versitygw: Go is required" >&2; exit 1; }
mkdir -p "$cache_root"
exec 9>"$cache_root/.versitygw.lock"
flock 9
if [[ -x "$bin" && -f "$out/.complete" ]]; then
    echo "$bin"
    exit 0
fi
mkdir -p "$out/bin"
GOFLAGS=-mod=mod GOTOOLCHAIN=local GOBIN="$out/bin" \
    go install "github.com/versity/versitygw/cmd/versitygw@$version" >&2
touch "$out/.complete"
echo "$bin"
