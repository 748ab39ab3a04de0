#!/usr/bin/env bash
# demo-officers.sh — the demo's officers (`make run`, DEMO ONLY): one admin and one officer
# for each demo department of config/demo-tokens.txt, made with `motcua officer add` (or
# given new secrets with `reset` when they exist from an earlier run), and their one-time
# passwords and TOTP secrets printed for the person trying the console. Add the secret to
# an authenticator app (or compute the code from it), sign in at /console, and choose a
# new password at the first sign-in.
#   scripts/demo-officers.sh [CONFIG]          (default config/demo.ini)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BIN="${DEMO_BIN:-build/motcua}"
CONFIG="${1:-config/demo.ini}"

# department, its areas, user name prefix
DEPTS=(
    "ubnd-ben-thanh 26743 ben-thanh"
    "so-tu-phap * tu-phap"
)

echo "motcua: cán bộ demo / demo officers (DEMO ONLY — one-time passwords, changed at the first sign-in):"
for line in "${DEPTS[@]}"; do
    read -r dept areas short <<<"$line"
    for role in admin officer; do
        user="${role}.${short}"
        out=$("$BIN" officer add --config "$CONFIG" --dept "$dept" --user "$user" --role "$role" --areas "$areas" 2>/dev/null) ||
            out=$("$BIN" officer reset --config "$CONFIG" --dept "$dept" --user "$user") || {
            echo "demo-officers: cannot add or reset $user" >&2
            continue
        }
        password=$(sed -n 's/^password: //p' <<<"$out")
        secret=$(sed -n 's/^totp: .*secret=\([A-Z2-7]*\).*/\1/p' <<<"$out")
        printf '  %-15s %-8s user %-18s password %s  TOTP secret %s\n' "$dept" "$role" "$user" "$password" "$secret"
    done
done
