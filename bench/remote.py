#!/usr/bin/env python3
"""Clean build of //:default: local, remote with a cold action cache, remote
with a warm one, side by side.

    bench/remote.sh [--iterations N]

Needs the local engine (build/remote-engine.sh start; bench/remote.sh starts
it) and the launcher (remote/build.sh). Each iteration builds the three
variants in turn, each into a fresh out dir of one GN tree outside the repo,
so drift on the machine hits them alike; a ratio is the median of the
per-iteration ratios to the local build.

- local: every action on this machine.
- remote, cold: every action on the worker. The action cache is made cold
  by a new environment variable in every action's Command
  (LACEWING_BENCH_RUN), which changes each action's key and nothing it
  does; the CAS keeps the inputs it already holds (the tools, the sources),
  as a fleet's would after its first build.
- remote, warm: the same actions as an earlier build: every one is an
  action-cache hit, and only the outputs are downloaded.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

TOOLS = ["collect-artifacts", "make-archive", "fuse-stub", "ldd-allowlist-check", "lacewing-stem"]


def engine_env(state):
    env = dict(os.environ)
    for line in open(os.path.join(state, "env")):
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            env[key] = value.strip("'\"")
    return env


def tree(work, repo):
    """A copy of the repo's GN tree with the release tools inside it, where a
    remote build needs them."""
    root = os.path.join(work, "src")
    os.makedirs(root)
    for item in [".gn", "BUILD.gn", "build", "gn_templates", "testdata", "third_party"]:
        src = os.path.join(repo, item)
        (shutil.copytree if os.path.isdir(src) else shutil.copy2)(src, os.path.join(root, item))
    os.makedirs(os.path.join(root, ".build", "release"))
    for tool in TOOLS:
        shutil.copy2(os.path.join(repo, ".build", "release", tool), os.path.join(root, ".build", "release"))
    return root


def clean_build(root, out, args, env):
    shutil.rmtree(os.path.join(root, out), ignore_errors=True)
    subprocess.run(["gn", "gen", out, "--args=" + args], cwd=root, check=True, stdout=subprocess.DEVNULL)
    start = time.perf_counter()
    r = subprocess.run(["ninja", "-C", out], cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    elapsed = time.perf_counter() - start
    if r.returncode != 0:
        sys.exit(f"bench: the {out} build failed:\n{r.stdout.decode()[-3000:]}")
    return elapsed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--engine-dir", default="out/remote-engine")
    ap.add_argument("--launcher", default="remote/.build/release/lacewing-remote")
    opts = ap.parse_args()
    repo = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
    launcher = os.path.abspath(os.path.join(repo, opts.launcher))
    env = engine_env(os.path.join(repo, opts.engine_dir))
    work = tempfile.mkdtemp(prefix="lacewing-bench-remote-")
    try:
        root = tree(work, repo)
        remote = f'lacewing_remote_launcher="{launcher}"'

        def cold():
            salt = f'lacewing_remote_args=["--env", "LACEWING_BENCH_RUN={uuid.uuid4()}"]'
            return clean_build(root, "out/cold", remote + " " + salt, env)

        variants = [
            ("local", lambda: clean_build(root, "out/local", "", env)),
            ("remote, cold action cache", cold),
            ("remote, warm action cache", lambda: clean_build(root, "out/warm", remote, env)),
        ]
        clean_build(root, "out/warm", remote, env)  # warms the cache (and the CAS) once
        times = {name: [] for name, _ in variants}
        for _ in range(opts.iterations):
            for name, build in variants:
                times[name].append(build())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nremote execution bench, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, "
          f"{opts.iterations} paired iterations, clean build of //:default (4 bundles), engine at "
          f"{env.get('LACEWING_REMOTE_ENDPOINT', '?')} on this machine")
    print("\n| build | median s | min s | max s | ratio to local |\n|---|---|---|---|---|")
    for name, _ in variants:
        ratio = statistics.median(t / l for t, l in zip(times[name], times["local"]))
        ts = times[name]
        print(f"| {name} | {statistics.median(ts):.1f} | {min(ts):.1f} | {max(ts):.1f} | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
