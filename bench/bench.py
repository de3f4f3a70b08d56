#!/usr/bin/env python3
"""Start-up and size benchmark: bundles against `python3 test.pyz`, side by side.

    bench/run.sh [--iterations N] [--pyinstaller] [--out-dir out/bench]

Runs are paired: each iteration runs every variant once, in turn, so drift
on the machine hits them alike; a ratio is the median of per-iteration
ratios. Nothing here asserts a timing: it prints a table.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

PYTHON = "/usr/bin/python3.11"


def timed(cmd, env, cwd=None):
    start = time.perf_counter()
    r = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    if r.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd)} exited {r.returncode}")
    return elapsed


def build_pyinstaller(out, work):
    """PyInstaller onefile of the probe test, from PyPI into a private venv."""
    venv = os.path.join(work, "venv")
    subprocess.run([PYTHON, "-m", "venv", venv], check=True)
    pip = os.path.join(venv, "bin", "pip")
    subprocess.run([pip, "install", "-q", "pyinstaller"], check=True)
    # The probe, plus what rtc_test imports, so sizes compare like for like.
    hidden = ["unittest", "argparse", "json", "logging", "subprocess", "asyncio", "ssl", "sqlite3", "ctypes"]
    args = [os.path.join(venv, "bin", "pyinstaller"), "--onefile", "--log-level", "ERROR",
            "--distpath", os.path.join(work, "dist"), "--workpath", os.path.join(work, "build"),
            "--specpath", work, "--name", "stem_probe_pyinstaller"]
    for h in hidden:
        args += ["--hidden-import", h]
    start = time.perf_counter()
    subprocess.run(args + ["testdata/stem_probe/stem_probe.py"], check=True)
    build_s = time.perf_counter() - start
    return os.path.join(work, "dist", "stem_probe_pyinstaller"), build_s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=21)
    ap.add_argument("--out-dir", default="out/bench")
    ap.add_argument("--pyinstaller", action="store_true", help="also build and time PyInstaller onefile (PyPI)")
    opts = ap.parse_args()
    out = opts.out_dir
    work = tempfile.mkdtemp(prefix="lacewing-bench-")
    cache = os.path.join(work, "cache")
    base = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": work, "TMPDIR": work}

    # Build times: clean, no-op, and after editing the test's main source.
    shutil.rmtree(out, ignore_errors=True)
    subprocess.run(["gn", "gen", out], check=True, stdout=subprocess.DEVNULL)
    t = time.perf_counter()
    subprocess.run(["ninja", "-C", out], check=True, stdout=subprocess.DEVNULL)
    clean_build = time.perf_counter() - t
    t = time.perf_counter()
    subprocess.run(["ninja", "-C", out], check=True, stdout=subprocess.DEVNULL)
    noop_build = time.perf_counter() - t
    main_source = "testdata/rtc_test/rtc_test.py"
    original = open(main_source).read()
    try:
        with open(main_source, "a") as f:
            f.write("\n# bench edit\n")
        t = time.perf_counter()
        subprocess.run(["ninja", "-C", out, "rtc_test"], check=True, stdout=subprocess.DEVNULL)
        edit_build = time.perf_counter() - t
    finally:
        with open(main_source, "w") as f:
            f.write(original)
        subprocess.run(["ninja", "-C", out], check=True, stdout=subprocess.DEVNULL)

    variants = {}
    for test in ["rtc_test", "stem_probe"]:
        bundle = os.path.join(out, test)
        pyz = os.path.join(out, test + ".pyz")
        pyz_env = dict(base, PYTHONPATH=out)
        variants[test] = {
            "pyz": ([PYTHON, pyz], pyz_env, None),
            "warm": ([bundle], dict(base, LACEWING_CACHE_DIR=cache), None),
            "cold": ([bundle], dict(base, LACEWING_CACHE_DIR=cache), cache),
            "temp": ([bundle], dict(base, LACEWING_EXTRACT="temp"), None),
        }
    pyinstaller_build = None
    if opts.pyinstaller:
        exe, pyinstaller_build = build_pyinstaller(out, work)
        variants["stem_probe"]["pyinstaller"] = ([exe], dict(base), None)

    rows = []
    for test, vs in variants.items():
        # One warm-up each, then paired iterations.
        subprocess.run(vs["warm"][0], env=vs["warm"][1], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times = {name: [] for name in vs}
        for _ in range(opts.iterations):
            for name, (cmd, env, clear) in vs.items():
                if clear:
                    shutil.rmtree(clear, ignore_errors=True)
                times[name].append(timed(cmd, env))
        for name, samples in times.items():
            ratios = [s / p for s, p in zip(samples, times["pyz"])]
            rows.append((test, name, statistics.median(samples) * 1000, statistics.median(ratios)))

    sizes = {
        "rtc_test bundle": os.path.getsize(os.path.join(out, "rtc_test")),
        "rtc_test.pyz": os.path.getsize(os.path.join(out, "rtc_test.pyz")),
        "stem": os.path.getsize(os.path.join(os.environ.get("LACEWING_TOOLS_DIR", ".build/release"), "lacewing-stem")),
    }
    if opts.pyinstaller:
        sizes["PyInstaller onefile (probe + rtc_test's imports)"] = os.path.getsize(variants["stem_probe"]["pyinstaller"][0][0])

    print(f"\nlacewing bench, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, {opts.iterations} paired iterations")
    print(f"\n| test | variant | median ms | ratio to python3 pyz |\n|---|---|---|---|")
    for test, name, ms, ratio in rows:
        print(f"| {test} | {name} | {ms:.1f} | {ratio:.2f}x |")
    print("\n| file | bytes |\n|---|---|")
    for name, size in sizes.items():
        print(f"| {name} | {size:,} |")
    print("\n| build | seconds |\n|---|---|")
    print(f"| clean (tools prebuilt) | {clean_build:.1f} |")
    print(f"| after editing rtc_test.py | {edit_build:.1f} |")
    print(f"| no-op | {noop_build:.2f} |")
    if pyinstaller_build is not None:
        print(f"| PyInstaller onefile, probe | {pyinstaller_build:.1f} |")
    shutil.rmtree(work, ignore_errors=True)
    json.dump({"rows": rows, "sizes": sizes}, open(os.path.join(out, "bench.json"), "w"), indent=2)


if __name__ == "__main__":
    main()
