#!/usr/bin/env bash
# Sets up what is missing, then runs every check and test of byok; exits non-zero if any fails.
#   1. cargo fmt --check
#   2. clippy -D warnings, native and wasm32
#   3. cargo test (the pure core, natively)
#   4. the provider stand-in's own tests (node --test)
#   5. wasm-pack test in headless Debian Chromium (the browser shell), against the stand-in
#   6. the package build (wasm-opt, size budget) and the PWA in Playwright
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
passed=0
failed=0
failures=()
run() {
  local name=$1; shift
  step "$name"
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); failures+=("$name"); fi
}

run "cargo fmt --check" cargo fmt --all -- --check
run "clippy (native)" cargo clippy --all-targets --locked -- -D warnings
run "clippy (wasm32)" cargo clippy --all-targets --locked --target wasm32-unknown-unknown -- -D warnings
run "cargo test (native core)" cargo test --locked
run "stand-in tests (node)" node --test tests/standin/
run "browser tests (wasm-pack test, headless Chromium)" node scripts/with-standin.mjs \
  wasm-pack test --headless --chrome --chromedriver /usr/bin/chromedriver
run "package build (wasm-opt, size budget)" node scripts/build.mjs
run "PWA tests (Playwright, headless Chromium)" node --test tests/e2e/

printf '\nchecks: %d passed, %d failed\n' "$passed" "$failed"
if [ "$failed" -gt 0 ]; then
  printf 'failed: %s\n' "${failures[@]}"
  exit 1
fi
