#!/usr/bin/env bash
# tinbao from the shell (curl and openssl): posts a signed dossier event, reads its status, and
# verifies a call-back's signature (docs/api.md "Authentication", docs/openapi.yaml "webhooks").
#
#   TINBAO_URL=http://127.0.0.1:8080 TINBAO_TOKEN=... TINBAO_HMAC_SECRET=... bash tinbao-client.sh
#
# TINBAO_HMAC_SECRET is the client's `hmac_secret` (leave it unset for a client without one).
# EVENT_ID overrides the event id (default: example-sh-<unix time>).
set -euo pipefail
url=${TINBAO_URL:-http://127.0.0.1:8080}
token=${TINBAO_TOKEN:?set TINBAO_TOKEN to the client\'s token}
secret=${TINBAO_HMAC_SECRET:-}
event_id=${EVENT_ID:-example-sh-$(date +%s)}

# hex HMAC-SHA256 of stdin with the key $1
hmac_hex() { openssl dgst -sha256 -hmac "$1" -r | cut -d' ' -f1; }

# A request signed with version 2: method, path and query, timestamp, nonce and the body's
# SHA-256, so it is valid once and only for this route. Prints the body, then the status line.
call() {
  local method=$1 path=$2 body=${3:-}
  local headers=(-H "Authorization: Bearer $token")
  if [[ -n $secret ]]; then
    local ts nonce body_hash sig
    ts=$(date +%s)
    nonce=$(openssl rand -hex 16)
    body_hash=$(printf '%s' "$body" | openssl dgst -sha256 -r | cut -d' ' -f1)
    sig=$(printf 'v2\n%s\n%s\n%s\n%s\n%s' "$method" "$path" "$ts" "$nonce" "$body_hash" |
          hmac_hex "$secret")
    headers+=(-H "X-Tinbao-Timestamp: $ts" -H "X-Tinbao-Nonce: $nonce"
              -H "X-Tinbao-Signature: v2=$sig")
  fi
  if [[ -n $body ]]; then
    curl -sS --max-time 10 -X "$method" "${headers[@]}" -H 'Content-Type: application/json' \
      --data-binary "$body" -w '\n%{http_code}\n' "$url$path"
  else
    curl -sS --max-time 10 -X "$method" "${headers[@]}" -w '\n%{http_code}\n' "$url$path"
  fi
}

event=$(cat <<EOF
{"event_id": "$event_id",
 "dossier": {"code": "000.00.12.H62-261120-0007", "status": "received",
             "appointment_at": "2026-11-30T14:00:00+07:00"},
 "applicant": {"name": "Nguyễn Văn An", "phone": "0912345678"}}
EOF
)

answer=$(call POST /v1/events "$event")
status=$(tail -n1 <<<"$answer")
echo "POST /v1/events: $status $(head -n1 <<<"$answer")"
[[ $status == 202 || $status == 200 ]] || exit 1

answer=$(call GET "/v1/events/$event_id")
status=$(tail -n1 <<<"$answer")
state=$(head -n1 <<<"$answer" | grep -o '"state":"[a-z_]*"' | head -n1 | cut -d'"' -f4)
echo "GET /v1/events/$event_id: $status state=$state"
[[ $status == 200 ]] || exit 1

# A call-back is genuine when one of the signatures in webhook-signature ("v1,<base64>",
# separated by spaces during a secret rotation) is the base64 HMAC-SHA256, keyed with the
# base64-decoded part of the secret after "whsec_", of "<webhook-id>.<webhook-timestamp>.<body>",
# and the timestamp is near the clock (here a fixed sample: its own time).
verify_callback() {
  local secret=$1 id=$2 ts=$3 body=$4 header=$5 now=$6
  (( now - ts <= 300 && ts - now <= 300 )) || return 1
  local key expected
  key=$(printf '%s' "${secret#whsec_}" | openssl base64 -d -A | od -An -tx1 | tr -d ' \n')
  expected=$(printf '%s.%s.%s' "$id" "$ts" "$body" |
             openssl dgst -sha256 -mac HMAC -macopt "hexkey:$key" -binary | openssl base64 -A)
  local sig
  for sig in $header; do
    [[ ${sig#v1,} == "$expected" && $sig == v1,* ]] && return 0
  done
  return 1
}

sample_secret='whsec_dGluYmFvLXNhbXBsZS1rZXktZm9yLWRvY3MtMDEyMyE='
sample_id='msg_2f6c1b0e9a7d4c3e'
sample_ts=1795749402
sample_body='{"kind":"message.delivered","event_id":"igate-2026-000123-result_ready","dossier_code":"000.00.12.H62-261120-0007","message_id":"mq3b2d6lkcx5yb4ffo2xqjq7aa","channel":"sms","state":"delivered","sequence":2}'
sample_sig='v1,bm90IHRoZSBvbGQgc2VjcmV0J3Mgc2lnbmF0dXJlIQ== v1,ey/5pfkmleHgJV1W3QyFz7vjwv1jHNI+jZ/+iwNj3p8='
# Or a call-back that tinbaod sent, given in the environment (README.md).
if [[ -n ${CALLBACK_BODY:-} ]]; then
  sample_secret=$CALLBACK_SECRET sample_id=$CALLBACK_ID sample_ts=$CALLBACK_TIMESTAMP
  sample_body=$CALLBACK_BODY sample_sig=$CALLBACK_SIGNATURE
fi

if verify_callback "$sample_secret" "$sample_id" "$sample_ts" "$sample_body" "$sample_sig" \
    "$sample_ts"; then good=valid; else good=invalid; fi
if verify_callback "$sample_secret" "$sample_id" "$sample_ts" "$sample_body " \
    "$sample_sig" "$sample_ts"; then bad=valid; else bad=invalid; fi
echo "sample call-back: $good; altered body: $bad"
[[ $good == valid && $bad == invalid ]]
