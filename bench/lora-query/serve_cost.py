#!/usr/bin/env python3
# Cost of the "lora_query" method on a running `uqengine serve --lora-query FILE`: each question is asked
# twice without and twice with it (greedy, n = 1, alternating), and the answers must agree.
# Usage: python3 bench/lora-query/serve_cost.py http://127.0.0.1:8080 [PREFIX]  (PREFIX is put before every question)
import json, time, urllib.request, statistics, sys
base = sys.argv[1]
MODEL = json.load(urllib.request.urlopen(base + "/v1/models"))["data"][0]["id"]
names = ["Zaibath", "Stetaix", "Morvane", "Quillet", "Brannoch", "Tessaly", "Oradin", "Velmora", "Kestrin", "Halvard"]
PREFIX = sys.argv[2] if len(sys.argv) > 2 else ""
qs = [f"In which month was {n} born?" for n in names] + [f"What is {a} plus {b}?" for a, b in [(12, 7), (33, 48), (5, 91), (27, 27), (64, 13), (8, 80), (41, 2), (19, 56), (70, 25), (36, 44)]]
def ask(q, lq):
    body = {"model": MODEL, "messages": [{"role": "user", "content": PREFIX + q}], "temperature": 0}
    if lq: body["uncertainty"] = ["lora_query"]
    req = urllib.request.Request(base + "/v1/chat/completions", json.dumps(body).encode(), {"Content-Type": "application/json"})
    t = time.perf_counter()
    r = json.load(urllib.request.urlopen(req))
    return (time.perf_counter() - t) * 1000, r
ask(qs[0], True)  # warm-up
plain, withq, query, ptok, ctok = [], [], [], [], []
for q in qs:
    for rep in range(2):
        a, r0 = ask(q, False); b, r1 = ask(q, True)
        plain.append(a); withq.append(b)
        query.append(r1["choices"][0]["uncertainty"]["lora_query"]["elapsed_ms"])
        ptok.append(r1["usage"]["prompt_tokens"]); ctok.append(r1["usage"]["completion_tokens"])
        assert r0["choices"][0]["message"]["content"] == r1["choices"][0]["message"]["content"]
med = statistics.median
print(f"requests per arm: {len(plain)}; prompt tokens median {med(ptok)}, completion tokens median {med(ctok)}, query tokens {r1['choices'][0]['uncertainty']['lora_query']['query_tokens']}")
print(f"request wall ms, median: without lora_query {med(plain):.1f}, with {med(withq):.1f} (+{med(withq)-med(plain):.1f}); mean {statistics.mean(plain):.1f} vs {statistics.mean(withq):.1f}")
print(f"lora_query elapsed_ms (re-decode prompt+answer, then query): median {med(query):.1f}, mean {statistics.mean(query):.1f}, min {min(query):.1f}, max {max(query):.1f}")
