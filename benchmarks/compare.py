"""Before/after: run `run.py` against two copies of the package, alternating, and print the ratios.

    cp -r gluon_wgan /tmp/before/                   # a copy of the package before a change
    python benchmarks/compare.py --before /tmp/before --rounds 3 --only iterations penalty_conv

Each round runs `run.py` once per tree in a fresh process (``PYTHONPATH=<tree>``), before and after
in turn, so both see the same machine load; a figure is the median over the rounds of run.py's
medians, and the ratio is after / before (below 1: faster). Writes ``compare.json`` in `--out`.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def _flat(value, prefix=""):
    out = {}
    for k, v in value.items():
        if isinstance(v, dict) and "median" not in v:
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = v["median"]
    return out


def run_once(tree, args, out):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([tree, env_path()]) if env_path() else tree)
    cmd = [sys.executable, os.path.join(HERE, "run.py"), "--ctx", args.ctx, "--repeats", str(args.repeats),
           "--warmup", str(args.warmup), "--out", out, "--only", *args.only] + (["--quick"] if args.quick else [])
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(out, "latest.json")) as f:
        return _flat(json.load(f)["results"])


def env_path():
    return os.environ.get("PYTHONPATH", "")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", required=True, help="folder holding the gluon_wgan package to compare against")
    parser.add_argument("--after", default=ROOT, help="folder holding the new package (default: this checkout)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--ctx", default="cpu")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", nargs="+", default=["iterations"])
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    args = parser.parse_args(argv)
    runs = {"before": [], "after": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for name in ("before", "after") if r % 2 == 0 else ("after", "before"):
                runs[name].append(run_once(getattr(args, name), args, tmp))
                print(f"round {r + 1}/{args.rounds} {name} done", file=sys.stderr)
    keys = [k for k in runs["after"][0] if all(k in run for run in runs["before"] + runs["after"])]
    table = {}
    for k in keys:
        before = statistics.median(run[k] for run in runs["before"])
        after = statistics.median(run[k] for run in runs["after"])
        table[k] = dict(before=before, after=after, ratio=after / before)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "compare.json"), "w") as f:
        json.dump(dict(rounds=args.rounds, repeats=args.repeats, before=args.before, after=args.after,
                       table=table), f, indent=1)
    lines = [f"Medians over {args.rounds} alternating rounds (each a median of {args.repeats} runs); "
             "ratio = after / before.", "", "| measurement | before | after | after / before |",
             "| --- | ---: | ---: | ---: |"]
    for k, v in table.items():
        lines.append(f"| {k} | {v['before']:.4g} | {v['after']:.4g} | {v['ratio']:.3f} |")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
