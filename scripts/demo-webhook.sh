#!/usr/bin/env bash
# demo-webhook.sh — sends one signed webhook to the demo gateway (`make run`) as a
# provider would, then shows the reply that landed in the outbox.
#
#   scripts/demo-webhook.sh facebook "lam khai sinh can giay to gi"
#   scripts/demo-webhook.sh zalo "đk tạm trú onl dc ko ad"
#   scripts/demo-webhook.sh sms "TRA 000.00.25.H29-231122-0001"
#
# The secrets are the demo-only ones of config/demo.ini.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
channel="${1:-facebook}"
text="${2:-lam khai sinh can giay to gi}"
base="${MOTCUA_URL:-http://127.0.0.1:8080}"
now_ms=$(($(date +%s%N) / 1000000))
id="demo-$now_ms-$$"
json_text=$(printf '%s' "$text" | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))')
outbox="var/outbox/$channel.jsonl"
before=$( (wc -l <"$outbox") 2>/dev/null || echo 0)

case "$channel" in
facebook)
    body="{\"object\":\"page\",\"entry\":[{\"id\":\"100\",\"time\":$now_ms,\"messaging\":[{\"sender\":{\"id\":\"demo-psid\"},\"recipient\":{\"id\":\"100\"},\"timestamp\":$now_ms,\"message\":{\"mid\":\"$id\",\"text\":$json_text}}]}]}"
    sig=$(printf '%s' "$body" | openssl dgst -sha256 -hmac demo-facebook-app-secret -r | cut -d' ' -f1)
    curl -sS -X POST "$base/webhook/facebook" -H 'Content-Type: application/json' \
        -H "X-Hub-Signature-256: sha256=$sig" --data-binary "$body"
    ;;
zalo)
    app=1000000000000000001
    body="{\"app_id\":\"$app\",\"event_name\":\"user_send_text\",\"timestamp\":\"$now_ms\",\"sender\":{\"id\":\"demo-zalo-user\"},\"recipient\":{\"id\":\"demo-oa\"},\"message\":{\"msg_id\":\"$id\",\"text\":$json_text}}"
    mac=$(printf '%s%s%s%s' "$app" "$body" "$now_ms" demo-zalo-oa-secret | sha256sum | cut -d' ' -f1)
    curl -sS -X POST "$base/webhook/zalo" -H 'Content-Type: application/json' \
        -H "X-ZEvent-Signature: mac=$mac" --data-binary "$body"
    ;;
sms)
    public=$(awk -F' *= *' '/^public_url/ {print $2}' config/demo.ini)
    from='+84912345678'
    # Twilio signs the URL plus every parameter name and value, in name order.
    sig=$(printf '%s' "$public/webhook/smsBody${text}From${from}MessageSid${id}To8088" |
        openssl dgst -sha1 -hmac demo-twilio-auth-token -binary | base64)
    curl -sS -X POST "$base/webhook/sms" -H "X-Twilio-Signature: $sig" \
        --data-urlencode "Body=$text" --data-urlencode "From=$from" \
        --data-urlencode "MessageSid=$id" --data-urlencode "To=8088"
    ;;
*)
    echo "usage: $0 facebook|zalo|sms TEXT" >&2
    exit 2
    ;;
esac
echo
for _ in $(seq 1 50); do
    now=$( (wc -l <"$outbox") 2>/dev/null || echo 0)
    if [ "$now" -gt "$before" ]; then
        tail -n 1 "$outbox" | python3 -c 'import json,sys; m=json.loads(sys.stdin.read()); print("reply to", m["to"], "on", m["channel"] + ":"); print(m["text"])'
        exit 0
    fi
    sleep 0.1
done
echo "no reply in $outbox yet (is the gateway running with config/demo.ini?)" >&2
exit 1
