#!/usr/bin/env bash
# Install the npm packages of the Medplum in-memory FHIR server used by the `medplum` tests
# (tests/servers/medplum: @medplum/fhir-router + core + definitions, pinned by package-lock.json).
# The tests start the server themselves (tests/fhir/test_medplum.py); this only installs it.
# Needs node >= 20 and npm. Idempotent; ~3 s and ~120 MB.
set -euo pipefail
cd "$(dirname "$0")/../tests/servers/medplum"
command -v node >/dev/null || { echo "medplum.sh: node is not installed" >&2; exit 1; }
command -v npm >/dev/null || { echo "medplum.sh: npm is not installed" >&2; exit 1; }
# The packages declare node >= 22 but run on node 20 with --experimental-websocket (the fixture adds it).
npm ci --no-audit --no-fund --loglevel=error --engine-strict=false >&2
node --version >&2
echo "medplum.sh: installed in $(pwd)/node_modules" >&2
