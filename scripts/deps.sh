#!/usr/bin/env bash
# deps.sh — install what motcua needs to build, run and test, and nothing more.
#
#   scripts/deps.sh          Debian packages, then the test tools from tests/package.json
#   scripts/deps.sh --apt    Debian packages only
#   scripts/deps.sh --node   test tools only (npm ci into tests/node_modules)
#
# Silent when everything is already there; idempotent. Only Debian's own package
# registry (through apt-get) and the npm registry (through npm) are used.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Build: compiler, pkg-config and the -dev package of every library in the Makefile.
# libwebsockets-evlib-uv: lws 4.1 loads its libuv event loop as a plugin at run time;
# without it `motcua serve` cannot create its context.
APT_PKGS=(
    build-essential pkg-config
    libwebsockets-dev libwebsockets-evlib-uv libuv1-dev
    libcurl4-openssl-dev libhiredis-dev libpcre2-dev libicu-dev
    libjansson-dev libssl-dev libinih-dev libcmocka-dev
    # officers: Argon2id passwords, TOTP codes, the enrolment QR code
    libargon2-dev liboath-dev libqrencode-dev
    redis-server
    # tests: headless browser (and a font for its screenshots), HTTP probes, ps
    chromium fonts-dejavu-core curl procps
)

installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]
}

apt_deps() {
    local missing=() p
    for p in "${APT_PKGS[@]}"; do
        installed "$p" || missing+=("$p")
    done
    # A newer Node.js may already be on PATH (not from Debian): keep it.
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        installed nodejs || missing+=(nodejs)
        installed npm || missing+=(npm)
    fi
    [ "${#missing[@]}" -eq 0 ] && return 0

    local cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}"
    if [ "$(id -u)" -ne 0 ]; then
        echo "deps.sh: missing Debian packages: ${missing[*]}" >&2
        echo "deps.sh: run as root:  $cmd" >&2
        exit 1
    fi
    echo "deps.sh: installing ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

node_deps() {
    local dir=tests
    [ -f "$dir/package.json" ] || return 0
    local stamp="$dir/package-lock.json"
    [ -f "$stamp" ] || stamp="$dir/package.json"
    if [ -d "$dir/node_modules" ] && [ ! "$stamp" -nt "$dir/node_modules" ]; then
        return 0
    fi
    if ! command -v npm >/dev/null 2>&1; then
        echo "deps.sh: npm is not on PATH; run scripts/deps.sh (as root) first" >&2
        exit 1
    fi
    local verb=ci
    [ -f "$dir/package-lock.json" ] || verb=install
    # Browsers come from Debian (chromium); never let a package download its own.
    local log
    log="$(mktemp)"
    if ! PUPPETEER_SKIP_DOWNLOAD=1 PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 \
        npm "$verb" --no-audit --no-fund --prefix "$dir" >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        echo "deps.sh: npm $verb --prefix $dir failed" >&2
        exit 1
    fi
    rm -f "$log"
    # npm may keep (or, with no dependencies, not create) node_modules: mark it fresh
    # for the check above.
    mkdir -p "$dir/node_modules"
    touch "$dir/node_modules"
}

case "${1:-}" in
    "") apt_deps; node_deps ;;
    --apt) apt_deps ;;
    --node) node_deps ;;
    -h | --help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' ;;
    *) echo "usage: scripts/deps.sh [--apt|--node]" >&2; exit 2 ;;
esac
