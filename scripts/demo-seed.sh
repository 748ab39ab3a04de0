#!/usr/bin/env bash
# demo-seed.sh — loads config/demo-dossiers.tsv into a running demo gateway through
# the department API (PUT /api/v1/dossiers/{code}), as a department's system would,
# so that "tra hồ sơ 000.00.25.H29-231122-0001" has something to find.
#   scripts/demo-seed.sh [BASE_URL]          (default http://127.0.0.1:8080)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
base="${1:-http://127.0.0.1:8080}"
token="${MOTCUA_DEMO_TOKEN:-demo-so-tu-phap-2026}"
n=0
while IFS=$'\t' read -r code procedure status phone expected; do
    case "$code" in '#'* | '') continue ;; esac
    body=$(printf '{"procedure":"%s","status":"%s","phone":"%s","expected_at":"%s"}' \
        "$procedure" "$status" "$phone" "$expected")
    code_http=$(curl -s -o /dev/null -w '%{http_code}' -X PUT \
        -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
        --data-binary "$body" "$base/api/v1/dossiers/$code")
    case "$code_http" in
    200 | 201) n=$((n + 1)) ;;
    *) echo "demo-seed: $code answered $code_http" >&2 ;;
    esac
done <config/demo-dossiers.tsv
echo "demo-seed: $n demo dossiers loaded (try: tra hồ sơ 000.00.25.H29-231122-0001)"
