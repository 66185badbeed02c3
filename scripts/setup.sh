#!/usr/bin/env bash
# Installs whatever is missing to build and test byok on a fresh Debian machine with Rust,
# and nothing that is already there. Safe to run again.
#   scripts/setup.sh           everything (build + browser tests)
#   scripts/setup.sh --build   only what building and serving the package needs
set -euo pipefail
cd "$(dirname "$0")/.."

want_browser=1
[ "${1:-}" = "--build" ] && want_browser=0

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then
    say "apt-get update"
    as_root apt-get update -qq
    apt_updated=1
  fi
  say "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Node.js and npm: the stand-in provider, the dev server, the build script and Playwright.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  apt_install nodejs npm
fi

# Debian's Chromium and its driver: wasm-pack test and Playwright drive it.
if [ "$want_browser" = 1 ] && { [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; }; then
  apt_install chromium chromium-driver
fi

# The Rust side: the wasm32 target, rustfmt and clippy.
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi
for component in rustfmt clippy; do
  if ! rustup component list --installed | grep -q "^$component"; then
    rustup component add "$component"
  fi
done

# wasm-pack, pinned so every machine builds the same way.
WASM_PACK_VERSION=0.15.1
if ! wasm-pack --version 2>/dev/null | grep -qx "wasm-pack $WASM_PACK_VERSION"; then
  say "cargo install wasm-pack $WASM_PACK_VERSION (about 2 minutes)"
  cargo install wasm-pack --version "$WASM_PACK_VERSION" --locked --quiet
fi

# The wasm-bindgen CLI must match the wasm-bindgen crate in Cargo.lock exactly; installing it
# here makes that explicit (wasm-pack would otherwise compile it on first use).
if [ ! -f Cargo.lock ]; then cargo generate-lockfile --quiet; fi
bindgen_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)
if ! wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $bindgen_version"; then
  say "cargo install wasm-bindgen-cli $bindgen_version (about 2 minutes)"
  # --locked can name a dependency version the registry no longer serves (yanked); then let
  # cargo resolve within the same semver ranges.
  cargo install wasm-bindgen-cli --version "$bindgen_version" --locked --quiet 2>/dev/null ||
    cargo install wasm-bindgen-cli --version "$bindgen_version" --quiet
fi

# npm tools: binaryen's wasm-opt, playwright-core, smol-toml (versions in package-lock.json).
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi

say "ready"
