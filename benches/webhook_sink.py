"""A webhook receiver for the delivery benchmark (benches/webhook_delivery.sh): answers 204 to
every POST at once, counts requests and distinct `webhook-id`s, and writes the counts with the
times of the first and last request to a JSON file every second. It verifies nothing: the
signatures are checked by the tests and by .ci/run.

Usage: webhook_sink.py PORT STATS_FILE
"""

import http.server
import json
import sys
import threading
import time

LOCK = threading.Lock()
STATE = {"requests": 0, "ids": set(), "first": None, "last": None}


class Sink(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", "0")))
        now = time.time()
        with LOCK:
            STATE["requests"] += 1
            STATE["ids"].add(self.headers.get("webhook-id"))
            STATE["first"] = STATE["first"] or now
            STATE["last"] = now
        self.send_response(204)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def report(path):
    while True:
        time.sleep(1)
        with LOCK:
            stats = {key: STATE[key] for key in ("requests", "first", "last")}
            stats["distinct"] = len(STATE["ids"])
        with open(path, "w") as out:
            json.dump(stats, out)


if __name__ == "__main__":
    # The sender opens up to 64 connections at once: a backlog of 5 would reset some.
    http.server.ThreadingHTTPServer.request_queue_size = 1024
    server = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink)
    threading.Thread(target=report, args=(sys.argv[2],), daemon=True).start()
    server.serve_forever()
