#!/usr/bin/env python3
"""A webhook receiver for the cluster tests: records each POST as one JSON line
{"path", "status", "body"} in OUT, answering 200, or 503 to the first POST on each path
with --fail-first (so the sender's retry is exercised). Listens on 127.0.0.1, a free port
written to PORT_FILE.

    webhook_receiver.py PORT_FILE OUT [--fail-first]
"""
import http.server
import json
import os
import sys
import threading

port_file, out = sys.argv[1], sys.argv[2]
fail_first = "--fail-first" in sys.argv[3:]
lock = threading.Lock()
seen_paths = set()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (the stdlib's name)
        length = min(int(self.headers.get("Content-Length") or 0), 1 << 20)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except ValueError:
            body = {"unparsed": raw.decode("utf-8", "replace")}
        with lock:
            status = 200
            if fail_first and self.path not in seen_paths:
                status = 503
            seen_paths.add(self.path)
            with open(out, "a", encoding="utf-8") as f:
                f.write(json.dumps({"path": self.path, "status": status, "body": body}) + "\n")
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w", encoding="utf-8") as f:
    f.write(str(server.server_address[1]))
os.replace(port_file + ".tmp", port_file)
server.serve_forever()
