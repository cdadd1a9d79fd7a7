#!/usr/bin/env bash
# readme_flags.sh - the README's flag tables are what each binary's --help says.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -x "${BUILD:-build}/pushprox-proxy" ] || exit 77
exec python3 tests/readme_flags.py --check "${BUILD:-build}"
