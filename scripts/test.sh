#!/usr/bin/env bash
# Sets up everything the tests need (npm packages for the js-libp2p interop peer, Redis, curl) and runs every test.
# Usage: scripts/test.sh [extra dotnet test args]
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup-test-deps.sh

dotnet build Bethrou.slnx -c Release -warnaserror -nologo -clp:ErrorsOnly
dotnet test Bethrou.slnx -c Release --no-build -nologo --logger "console;verbosity=normal" "$@"
