#!/usr/bin/env bash
# The main job with an embedded default: builds Bethrou and runs an exit node plus a SOCKS5 client in one process.
# Keys are created in the state directory (~/.local/state/bethrou, or $BETHROU_STATE_DIR) on first use.
# Extra arguments go to `bethrou demo` (e.g. --listen 127.0.0.1:1081).
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build src/Bethrou.Cli -c Release -nologo -clp:ErrorsOnly >&2
exec dotnet src/Bethrou.Cli/bin/Release/net10.0/bethrou.dll demo "$@"
