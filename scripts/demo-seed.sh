#!/usr/bin/env bash
# demo-seed.sh — loads config/demo-dossiers.tsv into a running demo gateway through
# the department API (PUT /api/v1/dossiers/{code}), as a department's system would,
# so that "tra hồ sơ 000.00.25.H29-231122-0001" has something to find, and the ward
# subscribers of config/demo-subscribers.tsv (POST /api/v1/subscriptions), so that a
# broadcast from the console to ward 26743 has recipients.
#   scripts/demo-seed.sh [BASE_URL]          (default http://127.0.0.1:8080)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
base="${1:-http://127.0.0.1:8080}"
token="${MOTCUA_DEMO_TOKEN:-demo-so-tu-phap-2026}"

# send METHOD PATH TOKEN BODY WHAT: one JSON request to the API; counts it in n when it
# answers 200 or 201, else says which record (WHAT) it refused.
send() {
    local code_http
    code_http=$(curl -s -o /dev/null -w '%{http_code}' -X "$1" \
        -H "Authorization: Bearer $3" -H 'Content-Type: application/json' \
        --data-binary "$4" "$base$2")
    case "$code_http" in
    200 | 201 | 202) n=$((n + 1)) ;;
    *) echo "demo-seed: $5 answered $code_http" >&2 ;;
    esac
}

n=0
while IFS=$'\t' read -r code procedure status phone expected; do
    case "$code" in '#'* | '') continue ;; esac
    body=$(printf '{"procedure":"%s","status":"%s","phone":"%s","expected_at":"%s"}' \
        "$procedure" "$status" "$phone" "$expected")
    send PUT "/api/v1/dossiers/$code" "$token" "$body" "$code"
done <config/demo-dossiers.tsv
echo "demo-seed: $n demo dossiers loaded (try: tra hồ sơ 000.00.25.H29-231122-0001)"

# The department's dossier_status template (admin-api.md, "Templates and ZNS") linked to a
# demo ZNS template: a status change for a citizen known by phone goes by ZNS first. No
# provider to ask in the demo, so the link is kept unchecked and ZNS writes to the outbox;
# one status change shows it there (var/outbox/zns.jsonl).
n=0
send PUT /api/v1/templates/dossier_status "$token" \
    '{"name":"Trạng thái hồ sơ","text":"Hồ sơ ((code)) (((procedure))) ((status)), ngày ((date)). ((note))","zns":{"template_id":"demo-231456","params":{"ma_ho_so":"((code))","thu_tuc":"((procedure))","trang_thai":"((status))","ngay":"((date))"}}}' \
    "template dossier_status"
send POST /api/v1/dossiers/000.00.25.H29-231122-0001/events "$token" \
    '{"status":"ready_for_pickup","note":"Mang theo giấy hẹn."}' "the demo status change"
if [ "$n" = 2 ]; then
    echo "demo-seed: dossier_status linked to ZNS; a status change sent by ZNS (var/outbox/zns.jsonl)"
fi

ward_token="${MOTCUA_DEMO_WARD_TOKEN:-demo-ubnd-ben-thanh-2026}"
n=0
while IFS=$'\t' read -r channel user ward tags; do
    case "$channel" in '#'* | '') continue ;; esac
    t='[]'
    if [ "$tags" != "-" ]; then
        t="[\"${tags//,/\",\"}\"]"
    fi
    body=$(printf '{"channel":"%s","user_id":"%s","ward":"%s","tags":%s}' \
        "$channel" "$user" "$ward" "$t")
    send POST /api/v1/subscriptions "$ward_token" "$body" "subscriber $channel of ward $ward"
done <config/demo-subscribers.tsv
echo "demo-seed: $n demo ward subscribers added (ward 26743, Bến Thành)"
