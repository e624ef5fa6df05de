#!/usr/bin/env python3
"""The stem's latency/anonymity frontier on the simulator: `shardnode deanon` over a grid
of fluff probabilities q and embargoes, with the Tor latency model (each link's one-way
latency drawn once in [130, 360] ms, docs/LATENCY.md), 10 % spies by default.

Usage: stem_frontier.py [--bin PATH] [--out DIR] [--nodes 500] [--runs 10] [--validators 450]
                        [--messages 1] [--q 0.1,0.2,0.3] [--embargo-ms 1000,2000,4000] [--spies 0.1]

For each (q, embargo E) point the relays' embargo is E + Exp(E/2) and the source's
3E + Exp(E/2) (pubsub.stem_own_embargo_ms). Writes DIR/frontier.json, DIR/frontier.csv
and DIR/frontier.svg (p99 delivery latency against the upper end of the timing
adversary's recall interval, one point per (q, E), with plain gossip for reference),
and prints a markdown table. Run by hand (docs/PRIVACY.md has the command and figures);
every point is one deterministic `shardnode deanon` run.
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time


def run_point(args, mode, q=None, embargo=None):
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = f.name
    cmd = [args.bin, "deanon", "--nodes", str(args.nodes), "--spies", str(args.spies), "--validators",
           str(args.validators), "--messages", str(args.messages), "--runs", str(args.runs), "--seed", str(args.seed),
           "--latency-model", "tor", "--jitter-ms", "40", "--mode", mode, "--json", out]
    if mode == "stem":
        cmd += ["--fluff", str(q), "--embargo-ms", str(embargo), "--embargo-jitter-ms", str(embargo // 2),
                "--own-embargo-ms", str(3 * embargo)]
    t0 = time.time()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    with open(out) as f:
        res = json.load(f)
    os.unlink(out)
    res = res[0] if isinstance(res, list) else res
    m = res["metrics"]

    def get(name):
        s = m[name]
        return {"mean": s.get("mean"), "ci": [s.get("ci95_low"), s.get("ci95_high")]}

    row = {"mode": mode, "q": q, "embargo_ms": embargo, "seconds": round(time.time() - t0, 1),
           "command": " ".join(cmd[1:-2])}
    for k in ("recall", "posterior_recall", "entropy_bits", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms",
              "delivered"):
        row[k] = get(k)
    return row


def svg(rows, spies, path):
    W, H, L, B = 640, 420, 70, 50
    xs = [r["latency_p99_ms"]["mean"] / 1000 for r in rows]
    ys = [max(r["recall"]["ci"][1] or 0, r["posterior_recall"]["ci"][1] or 0) for r in rows]
    xmax = max(xs) * 1.1
    ymax = max(1.0, max(ys)) if any(y > 0.5 for y in ys) else 0.5
    X = lambda v: L + (W - L - 20) * v / xmax
    Y = lambda v: H - B - (H - B - 20) * v / ymax
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="11">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<line x1="{L}" y1="{H-B}" x2="{W-20}" y2="{H-B}" stroke="black"/>',
           f'<line x1="{L}" y1="20" x2="{L}" y2="{H-B}" stroke="black"/>',
           f'<text x="{(W+L)/2}" y="{H-12}" text-anchor="middle">p99 delivery latency (s), Tor latency model</text>',
           f'<text x="16" y="{(H-B)/2}" transform="rotate(-90 16 {(H-B)/2})" text-anchor="middle">'
           f'recall, upper end of the 95 % CI (max of first spy, timing)</text>']
    for i in range(6):
        v = xmax * i / 5
        out.append(f'<text x="{X(v)}" y="{H-B+16}" text-anchor="middle">{v:.1f}</text>')
        w = ymax * i / 5
        out.append(f'<text x="{L-6}" y="{Y(w)+4}" text-anchor="end">{w:.2f}</text>')
    bound = spies + 0.02
    out.append(f'<line x1="{L}" y1="{Y(bound)}" x2="{W-20}" y2="{Y(bound)}" stroke="#c00" stroke-dasharray="4 3"/>')
    out.append(f'<text x="{W-24}" y="{Y(bound)-4}" text-anchor="end" fill="#c00">p + 0.02</text>')
    out.append(f'<line x1="{X(6)}" y1="20" x2="{X(6)}" y2="{H-B}" stroke="#c00" stroke-dasharray="4 3"/>')
    out.append(f'<text x="{X(6)+4}" y="32" fill="#c00">6 s = period/2</text>')
    for r, x, y in zip(rows, xs, ys):
        label = "plain" if r["mode"] == "plain" else f'q={r["q"]} E={r["embargo_ms"]/1000:g}s'
        color = "#888" if r["mode"] == "plain" else "#06c"
        out.append(f'<circle cx="{X(x)}" cy="{Y(y)}" r="4" fill="{color}"/>')
        out.append(f'<text x="{X(x)+6}" y="{Y(y)-5}">{label}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--bin", default=os.path.join(here, "..", "build-rel", "src", "cli", "shardnode"))
    ap.add_argument("--out", default=os.path.join(here, "..", "docs", "privacy"))
    ap.add_argument("--nodes", type=int, default=500)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--validators", type=int, default=450)
    ap.add_argument("--messages", type=int, default=1,
                    help="per validator (its messages share one stem path per epoch, so more add little)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--spies", type=float, default=0.1)
    ap.add_argument("--q", default="0.1,0.2,0.3")
    ap.add_argument("--embargo-ms", default="1000,2000,4000")
    ap.add_argument("--no-plain", action="store_true", help="skip the plain-gossip reference point")
    args = ap.parse_args()
    rows = []
    if not args.no_plain:
        rows.append(run_point(args, "plain"))
        print(f"plain: {rows[-1]['seconds']} s", file=sys.stderr)
    for q in [float(x) for x in args.q.split(",")]:
        for e in [int(x) for x in args.embargo_ms.split(",")]:
            rows.append(run_point(args, "stem", q, e))
            print(f"q={q} E={e}: {rows[-1]['seconds']} s", file=sys.stderr)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "frontier.json"), "w") as f:
        json.dump({"nodes": args.nodes, "runs": args.runs, "spies": args.spies, "validators": args.validators,
                   "messages_per_validator": args.messages,
                   "seed": args.seed, "latency_model": "tor", "points": rows}, f, indent=1)
    fields = ["mode", "q", "embargo_ms", "recall", "recall_ci_high", "posterior_recall", "posterior_recall_ci_high",
              "entropy_bits", "p50_ms", "p95_ms", "p99_ms", "delivered"]
    with open(os.path.join(args.out, "frontier.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(fields)
        for r in rows:
            w.writerow([r["mode"], r["q"], r["embargo_ms"], r["recall"]["mean"], r["recall"]["ci"][1],
                        r["posterior_recall"]["mean"], r["posterior_recall"]["ci"][1], r["entropy_bits"]["mean"],
                        r["latency_p50_ms"]["mean"], r["latency_p95_ms"]["mean"], r["latency_p99_ms"]["mean"],
                        r["delivered"]["mean"]])
    svg(rows, args.spies, os.path.join(args.out, "frontier.svg"))
    bound = args.spies + 0.02

    def cell(s):
        lo, hi = s["ci"]
        return f'{s["mean"]:.3f} [{lo:.3f}, {hi:.3f}]' if lo is not None else f'{s["mean"]:.3f}'

    print("| q | embargo (relay / source) | first-spy recall | timing recall | entropy | p50 | p95 | p99 | delivered | meets both |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        ok = (max(r["recall"]["ci"][1] or 1, r["posterior_recall"]["ci"][1] or 1) <= bound
              and r["latency_p99_ms"]["mean"] <= 6000)
        emb = "-" if r["mode"] == "plain" else f'{r["embargo_ms"]/1000:g} s / {3*r["embargo_ms"]/1000:g} s'
        print(f'| {r["q"] if r["q"] is not None else "plain"} | {emb} | {cell(r["recall"])} | {cell(r["posterior_recall"])} | '
              f'{r["entropy_bits"]["mean"]:.2f} bits | {r["latency_p50_ms"]["mean"]/1000:.2f} s | '
              f'{r["latency_p95_ms"]["mean"]/1000:.2f} s | {r["latency_p99_ms"]["mean"]/1000:.2f} s | '
              f'{r["delivered"]["mean"]:.4f} | {"yes" if ok else "no"} |')


if __name__ == "__main__":
    main()
