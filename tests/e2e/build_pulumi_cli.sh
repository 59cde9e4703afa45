#!/usr/bin/env bash
# Builds the real Pulumi CLI and its YAML language host from the Go module proxy into a cache
# folder outside the work tree, for the end-to-end tests. A warm cache makes this a no-op.
#
#   tests/e2e/build_pulumi_cli.sh            # prints the folder holding `pulumi` on its last line
#   PULUMI_CLI_VERSION=v3.224.0 PULUMI_YAML_VERSION=none tests/e2e/build_pulumi_cli.sh
#
# PULUMI_CLI_VERSION (default below) pins the release; PULUMI_YAML_VERSION=none builds the CLI
# alone (the compatibility matrix runs its programs through the Python Automation API, which
# needs no language host); PULUMI_CLI_CACHE overrides the cache root. The seconds a build took
# are kept in the folder's .complete (tests/e2e/cli_matrix.py reports them).
set -euo pipefail

version="${PULUMI_CLI_VERSION:-v3.274.1}"
yaml_version="${PULUMI_YAML_VERSION:-v1.25.0}"
yaml_pkg_version="${PULUMI_YAML_PKG_VERSION:-v3.218.0}"
cache_root="${PULUMI_CLI_CACHE:-$HOME/.cache/pulumi-service-e2e}"
if [[ $yaml_version == none ]]; then
    out="$cache_root/cli-$version"
else
    out="$cache_root/cli-$version-yaml-$yaml_version"
fi
bin="$out/bin"

built() {
    [[ -x "$bin/pulumi" && -f "$out/.complete" ]] \
        && { [[ $yaml_version == none ]] || [[ -x "$bin/pulumi-language-yaml" ]]; }
}

# The plugin that runs dynamic providers written in Python (`python -m pulumi.dynamic` under
# PULUMI_PYTHON_CMD): a script the SDK ships in the sdk/v3 module, put beside the CLI, where the
# CLI looks for bundled plugins. Cheap: done on a warm cache too.
python_plugin() {
    [[ -x "$bin/pulumi-resource-pulumi-python" ]] && return 0
    local dir
    dir=$(go mod download -json "github.com/pulumi/pulumi/sdk/v3@$version" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
    if [[ -f "$dir/python/dist/pulumi-resource-pulumi-python" ]]; then
        install -m 755 "$dir/python/dist/pulumi-resource-pulumi-python" "$bin/"
    fi
}

if built; then
    python_plugin
    echo "$bin"
    exit 0
fi

command -v go >/dev/null || { echo "build_pulumi_cli: Go is required to build the Pulumi CLI" >&2; exit 1; }

# One build at a time per cache (parallel test runs share it).
mkdir -p "$cache_root"
exec 9>"$cache_root/.lock"
flock 9
if built; then
    python_plugin
    echo "$bin"
    exit 0
fi

started=$SECONDS
work="$out/wrapper"
rm -rf "$work" && mkdir -p "$work" "$bin"
cd "$work"

export GOFLAGS="-mod=mod"
export GOTOOLCHAIN=local

go mod init pulumi-cli-wrapper >/dev/null 2>&1
# pkg/go.mod uses replace directives, which `go install pkg@version` refuses. Repeat its
# non-local replaces here so the wrapper builds what the release builds.
pkg_mod=$(go mod download -json "github.com/pulumi/pulumi/pkg/v3@$version" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
python3 - "$pkg_mod" >>go.mod <<'PY'
import re, sys
text = open(sys.argv[1]).read()
lines = []
for block in re.findall(r'^replace\s*\((.*?)^\)', text, re.S | re.M):
    lines += block.strip().splitlines()
lines += re.findall(r'^replace\s+([^(].*)$', text, re.M)
for line in lines:
    line = line.split('//')[0].strip()
    if not line or '=>' not in line:
        continue
    target = line.split('=>')[1].strip()
    if target.startswith('.') or target.startswith('/'):
        continue  # local replaces point into the pulumi repository itself
    print('replace ' + line)
PY

cat > tools.go <<'GO'
//go:build tools

package tools

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
GO
go get "github.com/pulumi/pulumi/pkg/v3@$version" "github.com/pulumi/pulumi/sdk/v3@$version"
go mod tidy
# `pulumi version` reads sdk/.../version.Version, or pkg/v3/version.Version in older releases
# (v3.60.0); the linker ignores the one a release lacks.
go build -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$version
    -X github.com/pulumi/pulumi/pkg/v3/version.Version=$version" \
    -o "$bin/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
python_plugin
if [[ $yaml_version == none ]]; then
    echo "build_seconds=$((SECONDS - started))" >"$out/.complete"
    echo "$bin"
    exit 0
fi

# Test programs run under the YAML language host. The Python host's module
# (github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3) is refused by the module
# proxy here ("403 Forbidden: This module version is not available"); pulumi-yaml is served.
# pulumi-yaml $yaml_version does not compile against the newest pkg/v3, so it gets a module of its
# own, with pkg/sdk at $yaml_pkg_version: the newest release it compiles against whose builtin
# "pulumi" package schema has pulumi:index:Stash (added in v3.208), the resource our programs use.
yaml_work="$out/yaml-wrapper"
rm -rf "$yaml_work" && mkdir -p "$yaml_work" && cd "$yaml_work"
go mod init pulumi-yaml-wrapper >/dev/null 2>&1
cat > tools.go <<'GO'
//go:build tools

package tools

import _ "github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml"
GO
go get "github.com/pulumi/pulumi-yaml@$yaml_version" \
    "github.com/pulumi/pulumi/pkg/v3@$yaml_pkg_version" "github.com/pulumi/pulumi/sdk/v3@$yaml_pkg_version"
go mod tidy
go build -o "$bin/pulumi-language-yaml" github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml
echo "build_seconds=$((SECONDS - started))" >"$out/.complete"
echo "$bin"
