#!/usr/bin/env bash
# Peers of zhibu's fast path, side by side with the benchmark's reconnect (not run by CI):
# installs the Automerge reference sync server with automerge-repo, and pouchdb-server with
# PouchDB, from the npm registry into a temporary folder, then runs the same reconnect through
# them (peers.mjs) and prints the same figures, `name value unit` (`--json` for JSON).
# Every server listens on 127.0.0.1 only. Needs node 20 or later and npm.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d -t zhibu-peers-XXXXXX)"
trap 'rm -rf "$work"' EXIT
cp "$here/package.json" "$here/peers.mjs" "$work/"
cd "$work"
# No install scripts: leveldown and sqlite3 (pouchdb-server's disk backends) are not needed,
# the server runs in memory.
npm install --no-audit --no-fund --ignore-scripts --loglevel=error >&2
node peers.mjs "$@"
