#!/usr/bin/env python3
"""GETs each URL in turn every INTERVAL seconds for SECONDS, each on a new connection (as
a liveness probe or a scraper does), and prints per URL: answered, failed, p50, p99 and
max latency in ms. Part of bench/target.sh."""
import http.client
import sys
import time
import urllib.parse


def main():
    seconds, interval, urls = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]
    times = {u: [] for u in urls}
    failed = {u: 0 for u in urls}
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for u in urls:
            p = urllib.parse.urlsplit(u)
            start = time.monotonic()
            try:
                c = http.client.HTTPConnection(p.hostname, p.port, timeout=5)
                c.request("GET", p.path)
                r = c.getresponse()
                r.read()
                c.close()
                if r.status != 200:
                    failed[u] += 1
                    continue
                times[u].append((time.monotonic() - start) * 1000)
            except OSError:
                failed[u] += 1
        time.sleep(interval)
    for u in urls:
        t = sorted(times[u])
        if not t:
            print(f"{urllib.parse.urlsplit(u).path:10s} answered 0, failed {failed[u]}")
            continue
        q = lambda f: t[min(len(t) - 1, int(f * len(t)))]
        print(f"{urllib.parse.urlsplit(u).path:10s} answered {len(t)}, failed {failed[u]}, "
              f"p50 {q(0.5):.2f} ms, p99 {q(0.99):.2f} ms, max {t[-1]:.2f} ms")


if __name__ == "__main__":
    main()
