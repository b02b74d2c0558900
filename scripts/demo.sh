#!/usr/bin/env bash
# The foldbank story, told with curl against a running service:
#
#   scripts/demo.sh [BASE_URL]        (default http://127.0.0.1:8080)
#   FOLDBANK_API_KEY=fbk_... scripts/demo.sh [BASE_URL]
#
# Against a service that requires keys, give it an operator key (`foldbank keys create
# --operator`): it sends `Authorization: Bearer $FOLDBANK_API_KEY`, and shows a request without
# it refused. A service in local development mode (no key exists) needs none.
#
# Opens two accounts, moves money, gets an overdraft refused, freezes and unfreezes an
# account, retries a deposit safely with an Idempotency-Key, transfers money between the two (and to an account that does not exist, which is
# refunded), reverses a deposit, then reads the history, the audit trail of events, the
# balance at an earlier instant, the ledger summary, the projection status and a page of the
# event feed. Then holds: a payment authorized (held: in the balance, no longer available),
# part of it captured, another hold voided, a third left to expire at its deadline (the
# scheduler records it; the script waits up to 30 s for that). Last, a customer forgotten:
# their description reads null once their key is erased, their balance unchanged. Then a webhook
# receiver subscribes (FOLDBANK_DEMO_WEBHOOK_URL, by default one that does not resolve) and the
# attempts to send it a deposit are listed; and the balances read model is paused, so that a
# read right after a deposit is seen stale and a min_position read waits, then resumed; and one
# account gets 105 deposits, so that time travel folds from its aggregate snapshot; and an
# account with an overdraft fee goes below zero, and the fee policy charges it once. Every
# step checks the HTTP
# status (and, for refusals, the problem type) and the script exits non-zero at the first
# unexpected answer.
# Needs bash and curl; uses jq for pretty output when it is installed.
set -euo pipefail

BASE="${1:-http://127.0.0.1:8080}"
BASE="${BASE%/}"
API_KEY="${FOLDBANK_API_KEY:-}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
BODY="$WORK/body"
HEADERS="$WORK/headers"

bold() { printf '\n\033[1m%s\033[0m\n' "$*"; }
fail() { printf '\n\033[31mdemo failed: %s\033[0m\n' "$*" >&2; exit 1; }

show_body() {
    if command -v jq >/dev/null 2>&1; then jq . "$BODY" 2>/dev/null || cat "$BODY"; else cat "$BODY"; fi
    echo
}

# call METHOD PATH EXPECTED_STATUS [JSON_BODY] [EXTRA_HEADER]
call() {
    local method=$1 path=$2 expected=$3 body=${4:-} header=${5:-}
    local args=(-sS -X "$method" -o "$BODY" -D "$HEADERS" -w '%{http_code}' -H 'accept: application/json')
    # A command is always JSON, also without parameters: the service refuses any other type.
    [ "$method" = POST ] && [ -z "$body" ] && body='{}'
    [ -n "$body" ] && args+=(-H 'content-type: application/json' --data "$body")
    [ -n "$header" ] && args+=(-H "$header")
    [ -n "$API_KEY" ] && args+=(-H "authorization: Bearer $API_KEY")
    printf '\033[2m$ curl -X %s %s%s%s%s\033[0m\n' "$method" "$BASE$path" "${API_KEY:+ -H 'authorization: Bearer fbk_…'}" "${header:+ -H '$header'}" "${body:+ -d '$body'}"
    local status
    status=$(curl "${args[@]}" "$BASE$path") || fail "could not reach $BASE"
    printf 'HTTP %s\n' "$status"
    show_body
    [ "$status" = "$expected" ] || fail "$method $path answered $status, expected $expected"
}

# field NAME: the first value of "NAME" in the last response body (string or number).
field() {
    grep -o "\"$1\":[[:space:]]*\"\{0,1\}[^\",}]*" "$BODY" | head -n 1 | sed -E "s/^\"$1\":[[:space:]]*\"?//"
}

# header NAME: a header of the last response.
header() {
    grep -i "^$1:" "$HEADERS" | head -n 1 | cut -d' ' -f2- | tr -d '\r'
}

# wait_for PATH PATTERN WHAT: GET PATH until its body matches PATTERN (a grep pattern), for at
# most 30 s, else fail saying WHAT did not happen. What a follower or a scheduler does comes a
# moment after the command that caused it.
wait_for() {
    local deadline=$((SECONDS + 30))
    until call GET "$1" 200 >/dev/null && grep -q "$2" "$BODY"; do
        [ "$SECONDS" -lt "$deadline" ] || fail "$3 within 30 s"
        sleep 0.5
    done
}

expect_problem() {
    local type
    type=$(field type)
    [ "$type" = "urn:foldbank:problem:$1" ] || fail "expected problem $1, got '$type'"
}

expect_field() {
    local value
    value=$(field "$1")
    [ "$value" = "$2" ] || fail "expected $1 = $2, got '$value'"
}

OWNER_ALICE=0190f5d2-7c1e-7a3b-9f00-5d1f3b8e2a10
OWNER_BOB=0190f5d2-7c1e-7a3b-9f00-5d1f3b8e2a20

bold "1. Alice opens an account with 100.00 EUR and a 50.00 overdraft (amounts are in cents)"
call POST /accounts 201 "{\"owner_id\":\"$OWNER_ALICE\",\"currency\":\"EUR\",\"initial_deposit\":10000,\"overdraft_limit\":5000}"
ALICE=$(field account_id)
echo "Location: $(header location), ETag: $(header etag)"

bold "2. Bob opens an empty account"
call POST /accounts 201 "{\"owner_id\":\"$OWNER_BOB\",\"currency\":\"EUR\"}"
BOB=$(field account_id)

bold "3. Alice deposits her salary of 25.00"
call POST "/accounts/$ALICE/deposits" 201 '{"amount":2500,"currency":"EUR","description":"salary"}'
POSITION=$(field position)

bold "   ...and reads her own write: min_position waits until the read model has it"
call GET "/accounts/$ALICE?min_position=$POSITION" 200
expect_field balance 12500
EARLIER=$(field updated_at)
echo "X-Projection-Position: $(header x-projection-position)"

bold "4. Alice withdraws 40.00"
call POST "/accounts/$ALICE/withdrawals" 201 '{"amount":4000,"currency":"EUR","description":"groceries"}'

bold "4b. A deposit sent twice with the same Idempotency-Key (a client retrying after a time-out) is written once"
KEY="demo-$(date +%s%N)"
call POST "/accounts/$ALICE/deposits" 201 '{"amount":300,"currency":"EUR","description":"refund"}' "Idempotency-Key: $KEY"
FIRST_TX=$(field transaction_id)
call POST "/accounts/$ALICE/deposits" 201 '{"amount":300,"currency":"EUR","description":"refund"}' "Idempotency-Key: $KEY"
[ "$(header idempotent-replayed)" = true ] || fail "the retry was not answered from the recorded response"
expect_field transaction_id "$FIRST_TX"
echo "Idempotent-Replayed: $(header idempotent-replayed): the same answer, and no second deposit"
call POST "/accounts/$ALICE/deposits" 422 '{"amount":999,"currency":"EUR"}' "Idempotency-Key: $KEY"
expect_problem idempotency-key-reused

bold "5. Alice tries to withdraw 200.00: more than balance plus overdraft, refused"
call POST "/accounts/$ALICE/withdrawals" 422 '{"amount":20000,"currency":"EUR"}'
expect_problem insufficient-funds

bold "6. Bob deposits 10.00, then his account is frozen"
call POST "/accounts/$BOB/deposits" 201 '{"amount":1000,"currency":"EUR"}'
call POST "/accounts/$BOB/freeze" 200 '{"reason":"card reported stolen"}'

bold "7. A withdrawal from the frozen account is refused (deposits would still be accepted)"
call POST "/accounts/$BOB/withdrawals" 422 '{"amount":500,"currency":"EUR"}'
expect_problem account-frozen

bold "8. Bob's account is unfrozen; the withdrawal now goes through"
call POST "/accounts/$BOB/unfreeze" 200 '{"reason":"card found in the car"}'
call POST "/accounts/$BOB/withdrawals" 201 '{"amount":500,"currency":"EUR"}'
POSITION=$(field position)

bold "8b. Who froze Bob's account, when and why: his audit trail (the events, not a status column)"
call GET "/accounts/$BOB/events?limit=10" 200
grep -q '"type":"AccountFrozen"' "$BODY" || fail "no AccountFrozen in Bob's trail"
grep -q '"reason":"card found in the car"' "$BODY" || fail "no reason in Bob's AccountUnfrozen"
echo "AccountFrozen says why (reason) and who (by: the bank or the customer), occurred_at when, and its"
echo "metadata which request (correlation_id); AccountUnfrozen says why it was lifted. A CRUD row's status"
echo "column would say only 'active' now. schema_version is the shape an event was written in: an"
echo "AccountUnfrozen of version 1 had no reason, and is upcast to version 2 (reason: null) as it is read"
echo "(src/store/codec.rs), so the log is never rewritten."

bold "9. Alice transfers 15.00 to Bob: debited now (202), credited by the process manager"
call POST /transfers 202 "{\"from_account\":\"$ALICE\",\"to_account\":\"$BOB\",\"amount\":1500,\"currency\":\"EUR\",\"description\":\"rent share\"}"
TRANSFER=$(field transfer_id)
DEBITED_AT=$(field position)
wait_for_transfer() {
    for _ in $(seq 1 50); do
        call GET "/transfers/$1" 200 >/dev/null
        [ "$(field status)" != pending ] && break
        sleep 0.1
    done
    call GET "/transfers/$1" 200
}
wait_for_transfer "$TRANSFER"
expect_field status completed
bold "    ...the transfer's own stream beside the accounts': TransferRequested is appended with Alice's debit,"
bold "       TransferSettled with Bob's credit (which is why positions jump in one account's trail)"
call GET "/events?after=$((DEBITED_AT - 2))&limit=6" 200
grep -q '"type":"TransferRequested"' "$BODY" || fail "the transfer's stream is not beside the debit"

bold "10. A transfer to an account that does not exist is compensated: the source is refunded"
call POST /transfers 202 "{\"from_account\":\"$ALICE\",\"to_account\":\"0190f5d2-7c1e-7a3b-9f00-000000000000\",\"amount\":1000,\"currency\":\"EUR\"}"
wait_for_transfer "$(field transfer_id)"
expect_field status failed
expect_field reason destination-not-found

bold "11. Bob reverses his 10.00 deposit (allowed within 30 days, once)"
call GET "/accounts/$BOB/transactions?min_position=$POSITION" 200
# One item per line (items hold no nested object), whatever the order of their members.
DEPOSIT=$(tr '{' '\n' <"$BODY" | grep '"kind":"deposit"' | grep -o '"transaction_id":"[^"]*"' | head -n 1 | cut -d'"' -f4)
[ -n "$DEPOSIT" ] || fail "no deposit found in Bob's history"
call POST "/accounts/$BOB/transactions/$DEPOSIT/reversal" 201
POSITION=$(field position)
call POST "/accounts/$BOB/transactions/$DEPOSIT/reversal" 422
expect_problem already-reversed
call GET "/accounts/$BOB?min_position=$POSITION" 200
expect_field balance 1000

bold "12. Alice's transaction history (a read model, newest first)"
call GET "/accounts/$ALICE/transactions?min_position=$POSITION" 200

bold "13. Alice's audit trail: the events themselves, as stored in the append-only log, a page at a time"
call GET "/accounts/$ALICE/events?limit=5" 200
expect_field type AccountOpened
expect_field next_cursor 5
call GET "/accounts/$ALICE/events?limit=5&cursor=5" 200
expect_field version 6

bold "14. Alice's balance at an earlier instant ($EARLIER), before the groceries"
call GET "/accounts/$ALICE/balance?at=$EARLIER" 200
expect_field balance 12500
call GET "/accounts/$ALICE/balance" 200
expect_field balance 7300

bold "15. The account as it was then, folded from the log (time travel)"
call GET "/accounts/$ALICE?at=$EARLIER" 200
expect_field balance 12500

bold "16. Where all the money is: balances plus money in flight, from the ledger_totals read model"
call GET /ledger/summary 200

bold "    ...and one owner's: Alice's accounts by status, her balance per currency"
call GET "/owners/$OWNER_ALICE/summary" 200

bold "17. How the projections (and the transfer process manager) are doing"
call GET /projections 200

bold "18. The whole log as a feed for other services: a page by position (live: /events/stream)"
call GET "/events?after=0&limit=3" 200
expect_field position 1
expect_field next_after 3
echo "each event's \"hash\" is its link in the hash chain: SHA-256 of the previous link and its canonical form"

bold "    ...and the signed checkpoints of that chain (none unless started with --signing-key-file)"
call GET "/chain?limit=3" 200
expect_field algorithm ed25519

bold "19. Holds: Alice's hotel authorizes 80.00 for a week; it stays in her balance but is no longer available"
call POST "/accounts/$ALICE/holds" 201 '{"amount":8000,"currency":"EUR","expires_in_secs":604800,"description":"hotel deposit"}'
HOTEL=$(field hold_id)
echo "Location: $(header location); expires_at: $(field expires_at)"
call GET "/accounts/$ALICE?min_position=$(field position)" 200
expect_field balance 7300
expect_field held 8000
expect_field available 4300
echo "available = balance 73.00 + overdraft 50.00 - held 80.00 = 43.00"

bold "    ...so a withdrawal of 50.00 is refused: the money is spoken for"
call POST "/accounts/$ALICE/withdrawals" 422 '{"amount":5000,"currency":"EUR"}'
expect_problem insufficient-funds

bold "    ...the hotel captures 50.00 of it: a movement of 50.00, the other 30.00 available again"
call POST "/accounts/$ALICE/holds/$HOTEL/capture" 201 '{"amount":5000}'
call GET "/accounts/$ALICE?min_position=$(field position)" 200
expect_field balance 2300
expect_field held 0
expect_field available 7300

bold "    ...a second capture is refused (409): the hold is no longer open"
call POST "/accounts/$ALICE/holds/$HOTEL/capture" 409
expect_problem hold-not-open
expect_field hold_status captured
call GET "/accounts/$ALICE/holds/$HOTEL" 200
expect_field status captured
expect_field captured 5000
expect_field released 3000

bold "    ...theatre tickets are held for 20.00, then the booking is cancelled: the hold is voided"
call POST "/accounts/$ALICE/holds" 201 '{"amount":2000,"currency":"EUR","expires_in_secs":3600,"description":"theatre tickets"}'
THEATRE=$(field hold_id)
call POST "/accounts/$ALICE/holds/$THEATRE/void" 200
call GET "/accounts/$ALICE/holds/$THEATRE?min_position=$(field position)" 200
expect_field status voided
expect_field released 2000

bold "    ...a parking hold of 10.00 lapses after 2 seconds: nobody captures it, the scheduler expires it"
call POST "/accounts/$ALICE/holds" 201 '{"amount":1000,"currency":"EUR","expires_in_secs":2,"description":"parking"}'
PARKING=$(field hold_id)
call GET "/accounts/$ALICE/holds/$PARKING?min_position=$(field position)" 200
expect_field status open
echo "waiting for the deadline, then for HoldExpired (at most 30 s)"
sleep 4
wait_for_expiry() {
    wait_for "/accounts/$ALICE/holds/$1" '"status": *"expired"' "hold $1 was not expired 30 s after its deadline"
    call GET "/accounts/$ALICE/holds/$1" 200
}
wait_for_expiry "$PARKING"
expect_field status expired
expect_field released 1000
POSITION=$(field position)

bold "    ...Alice's holds, newest first (the read model), and none is open any more"
call GET "/accounts/$ALICE/holds" 200
call GET "/accounts/$ALICE/holds?status=open" 200
grep -q '"items":\[\]' "$BODY" || fail "expected no open hold"
call GET "/accounts/$ALICE?min_position=$POSITION" 200
expect_field held 0
expect_field available 7300

bold "20. Forget a customer: personal text is sealed with its owner's key; erasing the key makes it read null"
CAROL_OWNER="$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n' | sed -E 's/(.{8})(.{4}).(.{3}).(.{3})(.{12})/\1-\2-4\3-8\4-\5/')"
call POST /accounts 201 "{\"owner_id\":\"$CAROL_OWNER\",\"currency\":\"EUR\",\"holder_name\":\"Carol Smith\"}"
CAROL=$(field account_id)
call POST "/accounts/$CAROL/deposits" 201 '{"amount":500,"currency":"EUR","description":"salary for March"}'
call GET "/accounts/$CAROL/transactions?min_position=$(field position)" 200
expect_field description "salary for March"
echo "stored as pd1:<owner>:<ciphertext> in the event, the read model and the aggregate snapshot; opened as it is answered"
call POST "/owners/$CAROL_OWNER/erasure" 200
expect_field already_erased false
call GET "/accounts/$CAROL/transactions" 200
expect_field personal_data erased
call GET "/accounts/$CAROL" 200
expect_field balance 500
expect_field personal_data erased
echo "the money is all there: only the text is gone, and the log was not rewritten"
call POST "/accounts/$CAROL/deposits" 422 '{"amount":100,"currency":"EUR","description":"bonus"}'
expect_problem personal-data-erased

bold "21. Integration events: a receiver subscribes to deposits and withdrawals (operators only; the secret is shown once)"
WEBHOOK_URL="${FOLDBANK_DEMO_WEBHOOK_URL:-https://webhook.example.com/foldbank}"
echo "receiver: $WEBHOOK_URL (set FOLDBANK_DEMO_WEBHOOK_URL to your own; a loopback one needs --webhook-allow-private)"
call POST /webhooks 201 "{\"url\":\"$WEBHOOK_URL\",\"event_types\":[\"money.deposited.v1\",\"money.withdrawn.v1\"],\"description\":\"the demo's receiver\"}"
WEBHOOK=$(field webhook_id)
call POST "/accounts/$ALICE/deposits" 201 '{"amount":100,"currency":"EUR","description":"cashback"}'
echo "the deposit publishes money.deposited.v1, signed per Standard Webhooks; waiting for the first attempt to send it (at most 30 s)"
wait_for "/webhooks/$WEBHOOK/deliveries" '"attempt"' "no attempt to deliver to $WEBHOOK_URL"
bold "    ...every attempt: the status answered (or the error met) and its latency; a failure is tried again with back-off"
call GET "/webhooks/$WEBHOOK/deliveries" 200
bold "    ...the subscription: what it has still to receive, parked messages, lag behind the log"
call GET "/webhooks/$WEBHOOK" 200

bold "22. Eventual consistency, watched: pause the balances read model (operators only), deposit, read at once"
call POST /projections/account_balances/pause 200 '{}'
call GET "/accounts/$ALICE" 200
HELD_BALANCE=$(field balance)
call POST "/accounts/$ALICE/deposits" 201 '{"amount":100,"currency":"EUR","description":"watched"}'
WATCHED=$(field position)
call GET "/accounts/$ALICE" 200
[ "$(field balance)" = "$HELD_BALANCE" ] || fail "a paused read model moved"
echo "the log has the deposit at position $WATCHED; the read model still answers $HELD_BALANCE (X-Projection-Position: $(header x-projection-position))"
bold "    ...reading your own write waits for the read model, then says it is not there yet"
call GET "/accounts/$ALICE?min_position=$WATCHED" 503
expect_problem projection-behind
bold "    ...resumed, the read model catches up, and the same read answers"
call POST /projections/account_balances/resume 200 '{}'
call GET "/accounts/$ALICE?min_position=$WATCHED" 200
[ "$(field balance)" = "$((HELD_BALANCE + 100))" ] || fail "expected the deposit in the balance"

bold "23. An aggregate snapshot: Bob gets 105 small deposits, and the service stores his folded state beside them"
for _ in $(seq 1 105); do
    call POST "/accounts/$BOB/deposits" 201 '{"amount":1,"currency":"EUR"}' >/dev/null
done
LAST=$(field position)
call GET "/accounts/$BOB?min_position=$LAST" 200
NOW_BOB=$(field updated_at)
bold "    ...time travel to now folds from the latest snapshot and only the events after it (see folded)"
call GET "/accounts/$BOB?at=$NOW_BOB" 200
grep -q '"from_snapshot_version":[0-9]' "$BODY" || fail "the fold did not start from a snapshot"
echo "a snapshot is written in the same transaction as the command's events, every --snapshot-every-events"
echo "(100): a load replays at most that many events, and no job of its own has to run, lead or catch up"

bold "24. A choreography (the page's saga): Dave's account charges 2.50 each time his balance goes below zero"
call POST /accounts 201 "{\"owner_id\":\"$OWNER_ALICE\",\"currency\":\"EUR\",\"initial_deposit\":1000,\"overdraft_limit\":10000,\"overdraft_fee\":250}"
DAVE=$(field account_id)
call POST "/accounts/$DAVE/withdrawals" 201 '{"amount":3000,"currency":"EUR","description":"rent"}'
CROSSING=$(field transaction_id)
echo "the withdrawal took the balance from 10.00 to -20.00: the account recorded AccountOverdrawn beside it, and"
echo "nothing more. The overdraft fee policy, a follower of the log with no state of its own, reacts to that event"
echo "with ChargeOverdraftFee; no coordinator (compare the transfer's process manager, step 9). Waiting for the fee (at most 30 s)"
wait_for "/accounts/$DAVE/events" '"OverdraftFeeCharged"' "no overdraft fee charged"
bold "    ...Dave's trail: the withdrawal, the crossing, and the fee naming its cause ($CROSSING)"
call GET "/accounts/$DAVE/events" 200
grep -q "\"cause\":\"$CROSSING\"" "$BODY" || fail "the fee does not name the withdrawal that crossed zero"
bold "    ...a second withdrawal while already below zero is no new crossing: no second fee"
call POST "/accounts/$DAVE/withdrawals" 201 '{"amount":100,"currency":"EUR"}'
SECOND=$(field position)
call GET "/accounts/$DAVE?min_position=$SECOND" 200
expect_field balance -2350
echo "1000 - 3000 - 250 (the fee) - 100: the policy charges once per crossing, however often it is told"
echo "(retries, a replayed log, a second instance: the account's decider answers a repeat with no events)"

if [ -n "$API_KEY" ]; then
    bold "25. Without the key: 401, and WWW-Authenticate says which scheme to use"
    API_KEY="" call GET /accounts 401
    expect_problem unauthorized
    [ "$(header www-authenticate)" = "Bearer" ] || fail "expected WWW-Authenticate: Bearer"
fi

bold "The demo ran as expected."
