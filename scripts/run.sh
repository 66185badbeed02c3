#!/usr/bin/env bash
# Sets up what is missing, builds the byok package and serves the demo PWA at a printed
# localhost address, with the local provider stand-in (no real key needed).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --build
node scripts/build.mjs
exec node scripts/serve.mjs "$@"
