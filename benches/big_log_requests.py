"""Request latencies on a big log: `python3 benches/big_log_requests.py PORT [N]`.

Against a foldbank serving on 127.0.0.1:PORT (loopback needs no key), on a log written by
`cargo bench --bench seed`: picks the active EUR account with the longest history among the
first 100, then times N (default 200) deposits on it, N balances at a random instant of its
history (`?at=`) and N pages of the feed after a random position (`GET /events?after=`), one
kept-alive connection, one request at a time; prints p50 and p99 of each. The figures of the
README's "A large log" table come from it.
"""
import http.client, json, sys, time, statistics, uuid, random

port = int(sys.argv[1]); n = int(sys.argv[2]) if len(sys.argv) > 2 else 200
c = http.client.HTTPConnection("127.0.0.1", port)
def req(method, path, body=None):
    h = {"Content-Type": "application/json"} if body is not None else {}
    t = time.perf_counter()
    c.request(method, path, body=json.dumps(body) if body is not None else None, headers=h)
    r = c.getresponse(); data = r.read()
    return (time.perf_counter() - t) * 1000, r.status, data

_, st, data = req("GET", "/accounts?limit=100")
assert st == 200, (st, data[:300])
items = json.loads(data)
accounts = [a for a in (items.get("accounts") or items.get("items") or []) if a.get("status") == "active" and a.get("currency") == "EUR"]
acct = max(accounts, key=lambda a: a.get("version", 0))
aid = acct["account_id"]
_, st, head = req("GET", "/projections"); headpos = json.loads(head)["head"]
def p(ms): ms = sorted(ms); return f"p50 {statistics.median(ms):.2f} ms, p99 {ms[int(len(ms)*0.99)-1]:.2f} ms"
res = {}
ms = []
for i in range(n):
    t, st, d = req("POST", f"/accounts/{aid}/deposits", {"amount": 1, "currency": "EUR"})
    assert st == 201, (st, d[:300]); ms.append(t)
res["deposit on an account of version %d" % acct.get("version", 0)] = p(ms)
opened = acct["opened_at"]
ms = []
for i in range(n):
    from datetime import datetime
    o = datetime.fromisoformat(acct["opened_at"].replace("Z", "+00:00")); u = datetime.fromisoformat(acct["updated_at"].replace("Z", "+00:00"))
    at = (o + (u - o) * random.random()).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    t, st, d = req("GET", f"/accounts/{aid}/balance?at={at}")
    ms.append(t)
res["balance at an instant (status %d)" % st] = p(ms)
ms = []
for i in range(n):
    after = random.randint(0, max(headpos - 100, 0))
    t, st, d = req("GET", f"/events?after={after}&limit=100")
    ms.append(t)
res["GET /events?after=<random>&limit=100 (status %d)" % st] = p(ms)
for k, v in res.items(): print(f"{k}: {v}")
