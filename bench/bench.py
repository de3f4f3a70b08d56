#!/usr/bin/env python3
"""Start-up, size and build-time benchmark: bundles against `python3 test.pyz`
and against PyInstaller onefile of the same test, side by side.

    bench/run.sh [--iterations N] [--pyinstaller] [--assert-sizes] [--out-dir out/bench]
                 [--per-bundle [N,N,...]] [--only-per-bundle]

Runs are paired: each iteration runs every variant once, in turn, so drift
on the machine hits them alike; a ratio is the median of per-iteration
ratios. Nothing here asserts a timing. With --assert-sizes (and
--pyinstaller) it fails when the sizes miss their targets: the rtc_test
bundle at most 0.9x PyInstaller's, and ten tests shipped as one runtime
bundle plus ten .pyz at most 0.15x ten PyInstaller bundles. Sizes are
deterministic; timings are not.

--per-bundle builds N fresh one-file tests on a runtime already built, for
each N (1, 10, 40 by default), in a GN tree of its own outside the repo, and
prints the action CPU (user + sys of ninja and everything it waited for)
and wall time per bundle.
"""
import argparse
import json
import os
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

PYTHON = "/usr/bin/python3.11"
PYINSTALLER = "pyinstaller==6.22.3"


def timed(cmd, env, cwd=None):
    # A blocking wait, and the time limit from a timer: with a timeout,
    # subprocess polls the child with sleeps of up to 50 ms, which rounded
    # every start up to the next poll (the medians came out 50 ms apart).
    start = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    limit = threading.Timer(120, p.kill)
    limit.start()
    try:
        status = p.wait()
    finally:
        limit.cancel()
    elapsed = time.perf_counter() - start
    if elapsed >= 120:
        sys.exit(f"bench: {' '.join(cmd)} ran past 120 s")
    if status != 0:
        sys.exit(f"bench: {' '.join(cmd)} exited {status}")
    return elapsed


def pyinstaller_venv(work):
    """PyInstaller from PyPI in a private venv, or None when PyPI cannot be
    reached (said loudly, never silently)."""
    venv = os.path.join(work, "venv")
    subprocess.run([PYTHON, "-m", "venv", venv], check=True)
    # Pinned: CI holds our sizes to a ratio of PyInstaller's, which must not
    # move with its releases. Raise it on purpose, with the README's table.
    if subprocess.run([os.path.join(venv, "bin", "pip"), "install", "-q", PYINSTALLER]).returncode != 0:
        print("bench: PyPI is unreachable: NO PyInstaller comparison in this run", file=sys.stderr)
        return None
    return os.path.join(venv, "bin", "pyinstaller")


def build_pyinstaller(pyinstaller, out, work, test):
    """PyInstaller onefile of `test`, from the same sources its .pyz holds.

    Returns (executable, seconds to build, seconds to rebuild after editing
    the main source)."""
    src = os.path.join(work, test + "_src")
    subprocess.run(["unzip", "-q", "-o", os.path.join(out, test + ".pyz"), "-d", src], check=True)
    for root, _, files in os.walk(src):
        for f in files:
            if f.endswith(".pyc") or f == "__main__.py":
                os.remove(os.path.join(root, f))
    main = os.path.join(src, test + ".py")
    # C extensions (fidl_codec and its library) come from the build dir,
    # found the way PyInstaller finds any extension: on its search path.
    args = [pyinstaller, "--onefile", "--noconfirm", "--log-level", "ERROR",
            "--distpath", os.path.join(work, "dist"), "--workpath", os.path.join(work, "build", test),
            "--specpath", work, "--paths", out, "--name", test + "_pyinstaller", main]
    start = time.perf_counter()
    subprocess.run(args, check=True)
    build_s = time.perf_counter() - start
    with open(main, "a") as f:
        f.write("\n# bench edit\n")
    start = time.perf_counter()
    subprocess.run(args, check=True)
    rebuild_s = time.perf_counter() - start
    return os.path.join(work, "dist", test + "_pyinstaller"), build_s, rebuild_s


def pyinstaller_hello(pyinstaller, work):
    """PyInstaller onefile of a script importing two stdlib modules: the size
    case we lose, as PyInstaller ships only what an app imports."""
    src = os.path.join(work, "hello.py")
    with open(src, "w") as f:
        f.write("import json\nimport sys\n\nprint(json.dumps(sys.argv))\n")
    subprocess.run([pyinstaller, "--onefile", "--noconfirm", "--log-level", "ERROR",
                    "--distpath", os.path.join(work, "dist"), "--workpath", os.path.join(work, "build", "hello"),
                    "--specpath", work, "--name", "hello_pyinstaller", src], check=True)
    return os.path.join(work, "dist", "hello_pyinstaller")


PER_BUNDLE_COUNTS = (1, 10, 40)


def per_bundle_tree(work, repo, counts):
    """A GN tree outside the repo, holding one-file tests for each count in
    `counts` (fresh tests for each, so every group builds new bundles on a
    runtime already built). The repo is reached through symlinks, as a tree
    that vendors it would."""
    root = os.path.join(work, "per-bundle")
    os.makedirs(root)
    os.symlink(repo, os.path.join(root, "lacewing"))
    # BUILDCONFIG names its toolchain as //build/...
    os.symlink(os.path.join(repo, "build"), os.path.join(root, "build"))
    with open(os.path.join(root, ".gn"), "w") as f:
        f.write('buildconfig = "//build/config/BUILDCONFIG.gn"\nscript_executable = ""\n')
    groups = {}
    lines = ['import("//lacewing/gn_templates/python_lacewing_bundle.gni")\n']
    for n in counts:
        groups[n] = [f"n{n}_t{i}" for i in range(n)]
        for name in groups[n]:
            with open(os.path.join(root, name + ".py"), "w") as f:
                f.write("import unittest\n\n\nclass T(unittest.TestCase):\n"
                        f"    def test_{name}(self):\n        self.assertTrue(True)\n\n\n"
                        "if __name__ == \"__main__\":\n    unittest.main()\n")
            lines.append(f'python_lacewing_bundle("{name}") {{\n  main_source = "{name}.py"\n}}\n')
    with open(os.path.join(root, "BUILD.gn"), "w") as f:
        f.write("\n".join(lines))
    return root, groups


def timed_ninja(out, targets):
    """(wall seconds, CPU seconds of ninja and every action it waited for)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(["ninja", "-C", out] + targets, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def per_bundle_cost(counts):
    """Builds the runtime once, then N new one-file bundles on it for each N,
    and prints what each additional bundle costs: action CPU and wall time,
    per bundle."""
    repo = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
    work = tempfile.mkdtemp(prefix="lacewing-bench-per-bundle-")
    try:
        root, groups = per_bundle_tree(work, repo, counts)
        out = os.path.join(root, "out")
        subprocess.run(["gn", "gen", out, "--root=" + root], check=True, stdout=subprocess.DEVNULL)
        runtime = timed_ninja(out, ["lacewing/gn_templates:runtime"])
        rows = []
        for n in counts:
            wall, cpu = timed_ninja(out, groups[n])
            rows.append((n, wall, cpu))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nper-bundle build cost, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores "
          f"(runtime first: {runtime[0]:.1f} s wall, {runtime[1]:.1f} s CPU)")
    print("\n| new bundles on a built runtime | wall s | CPU s | wall s per bundle | CPU s per bundle |\n|---|---|---|---|---|")
    for n, wall, cpu in rows:
        print(f"| {n} | {wall:.2f} | {cpu:.2f} | {wall / n:.3f} | {cpu / n:.3f} |")
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=21)
    ap.add_argument("--out-dir", default="out/bench")
    ap.add_argument("--scratch", help="directory to extract in (default: the system's temp dir)")
    ap.add_argument("--pyinstaller", action="store_true", help="also build and time PyInstaller onefile (PyPI)")
    ap.add_argument("--assert-sizes", action="store_true", help="fail when a size misses its target (needs --pyinstaller)")
    ap.add_argument("--per-bundle", nargs="?", const=",".join(map(str, PER_BUNDLE_COUNTS)), metavar="N,N,...",
                    help="also the build cost of each additional bundle on a built runtime, for N one-file tests "
                         "(default 1,10,40)")
    ap.add_argument("--only-per-bundle", action="store_true", help="run only the per-bundle build cost")
    ap.add_argument("--portable", action="store_true",
                    help="also the bundles of the portable runtime (build/portable-python.sh, Debian 11 sysroot)")
    opts = ap.parse_args()
    if opts.per_bundle or opts.only_per_bundle:
        per_bundle_cost([int(n) for n in (opts.per_bundle or ",".join(map(str, PER_BUNDLE_COUNTS))).split(",")])
        if opts.only_per_bundle:
            return
    out = opts.out_dir
    # Where both extract (our cache and temp dirs, PyInstaller's _MEI dirs):
    # on some disks a file costs far more than its bytes, and cold starts
    # measure the disk as much as the program (docs/design.md).
    work = tempfile.mkdtemp(prefix="lacewing-bench-", dir=opts.scratch)
    cache = os.path.join(work, "cache")
    base = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": work, "TMPDIR": work}

    # Build times: clean, no-op, and after editing the test's main source.
    shutil.rmtree(out, ignore_errors=True)
    subprocess.run(["gn", "gen", out], check=True, stdout=subprocess.DEVNULL)
    # The runtime layer alone (collect, compile, pack), from clean, in a
    # build dir of its own: issue 12 holds it to 5 s on 2 cores.
    runtime_out = out + "-runtime"
    shutil.rmtree(runtime_out, ignore_errors=True)
    subprocess.run(["gn", "gen", runtime_out], check=True, stdout=subprocess.DEVNULL)
    t = time.perf_counter()
    subprocess.run(["ninja", "-C", runtime_out, "gn_templates:runtime_archive"], check=True, stdout=subprocess.DEVNULL)
    runtime_build = time.perf_counter() - t
    shutil.rmtree(runtime_out, ignore_errors=True)
    # One bundle from clean, runtime included, as PyInstaller builds one.
    t = time.perf_counter()
    subprocess.run(["ninja", "-C", out, "rtc_test"], check=True, stdout=subprocess.DEVNULL)
    clean_build = time.perf_counter() - t
    t = time.perf_counter()
    subprocess.run(["ninja", "-C", out], check=True, stdout=subprocess.DEVNULL)
    rest_build = time.perf_counter() - t
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

    # The other side of stdlib_zip: the probe on a runtime whose stdlib is
    # a file per module (not part of //:default, not in the build times).
    # And the opt-in trimmed runtimes (python_runtime's trim_to_imports_of),
    # for the small-app size case.
    subprocess.run(["ninja", "-C", out, "testdata/stem_probe:stem_probe_stdlib_files", "trimmed_cases"], check=True,
                   stdout=subprocess.DEVNULL)

    # The same tests on the portable runtime: CPython built in the Debian 11
    # sysroot (no PGO), its libraries (OpenSSL 1.1, ...) the sysroot's.
    portable_out = out + "-portable"
    portable_cache = os.path.join(work, "portable-cache")
    if opts.portable:
        made = lambda script: subprocess.run([script], check=True, stdout=subprocess.PIPE,
                                             text=True).stdout.splitlines()[-1]
        sysroot, python = made("build/sysroot.sh"), made("build/portable-python.sh")
        shutil.rmtree(portable_out, ignore_errors=True)
        subprocess.run(["gn", "gen", portable_out, f'--args=lacewing_python="{python}" lacewing_sysroot="{sysroot}"'],
                       check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["ninja", "-C", portable_out, "rtc_test", "stem_probe"], check=True, stdout=subprocess.DEVNULL)

    # The host check's cost on a warm start: stem_probe fused again as ninja
    # fuses it, less --host-needs, so its config names no loader and no
    # glibc floor and the stem checks nothing of the host; timed below.
    fuse = shlex.split(subprocess.run(["ninja", "-C", out, "-t", "commands", "stem_probe"], check=True,
                                      stdout=subprocess.PIPE, text=True).stdout.splitlines()[-1])
    unchecked = os.path.join(work, "stem_probe_unchecked")
    retarget = {"--output": unchecked, "--depfile": unchecked + ".d", "--size-report": unchecked + ".size.json",
                "--size-table": unchecked + ".size.txt"}
    fuse_args = []
    for arg in fuse[1:]:
        if fuse_args and fuse_args[-1] == "--host-needs":
            fuse_args.pop()
        elif fuse_args and fuse_args[-1] in retarget:
            fuse_args.append(os.path.abspath(retarget[fuse_args[-1]]))
        else:
            fuse_args.append(arg)
    subprocess.run([fuse[0]] + fuse_args, check=True, cwd=out, stdout=subprocess.DEVNULL)

    def clear_all():
        shutil.rmtree(cache, ignore_errors=True)

    def clear_portable():
        shutil.rmtree(portable_cache, ignore_errors=True)

    def clear_tests():
        # A new test on a machine that already ran another on this runtime.
        for entry in os.listdir(cache) if os.path.isdir(cache) else []:
            if "-rt-" not in entry:
                shutil.rmtree(os.path.join(cache, entry), ignore_errors=True)

    variants = {}
    # stem_probe with no argument imports a handful of modules and exits;
    # `imports` is what a typical test does first (stem_probe.py).
    cases = {"rtc_test": ("rtc_test", []), "stem_probe": ("stem_probe", []),
             "stem_probe imports": ("stem_probe", ["imports"]),
             "stem_probe, stdlib as files": ("stem_probe_stdlib_files", []),
             "stem_probe imports, stdlib as files": ("stem_probe_stdlib_files", ["imports"])}
    for case, (test, args) in cases.items():
        bundle = os.path.join(out, test)
        pyz = os.path.join(out, test + ".pyz")
        pyz_env = dict(base, PYTHONPATH=out)
        variants[case] = {
            "pyz": ([PYTHON, pyz] + args, pyz_env, None),
            "warm": ([bundle] + args, dict(base, LACEWING_CACHE_DIR=cache), None),
            "cold, runtime already cached": ([bundle] + args, dict(base, LACEWING_CACHE_DIR=cache), clear_tests),
            "cold": ([bundle] + args, dict(base, LACEWING_CACHE_DIR=cache), clear_all),
            "temp": ([bundle] + args, dict(base, LACEWING_EXTRACT="temp"), None),
        }
        if opts.portable and test in ("rtc_test", "stem_probe"):
            portable = [os.path.join(portable_out, test)] + args
            variants[case]["warm, portable runtime"] = (portable, dict(base, LACEWING_CACHE_DIR=portable_cache), None)
            variants[case]["cold, portable runtime"] = (
                portable, dict(base, LACEWING_CACHE_DIR=portable_cache), clear_portable)
    tool = pyinstaller_venv(work) if opts.pyinstaller else None
    pyinstaller = build_pyinstaller(tool, out, work, "rtc_test") if tool else None
    if tool:
        # rtc_test itself cannot run under PyInstaller: its fake device is a
        # child started as `sys.executable -c ...`, and a frozen app's
        # sys.executable is the app, which runs the test again, forever. So
        # PyInstaller's start-up is timed on the probe, rtc_test's size and
        # build times on rtc_test.
        probe = build_pyinstaller(tool, out, work, "stem_probe")
        for case in ["stem_probe", "stem_probe imports", "stem_probe, stdlib as files",
                     "stem_probe imports, stdlib as files"]:
            variants[case]["PyInstaller onefile"] = ([probe[0]] + cases[case][1], dict(base), None)

    # The host check's pair: the two bundles side by side in one directory,
    # warm in one cache of their own (the variants' cold runs clear theirs).
    checked = os.path.join(work, "stem_probe_checked")
    shutil.copy2(os.path.join(out, "stem_probe"), checked)
    check_env = dict(base, LACEWING_CACHE_DIR=os.path.join(work, "host-check-cache"))
    for bundle in (checked, unchecked):
        subprocess.run([bundle], env=check_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    host_check = statistics.median([timed([checked], check_env) / timed([unchecked], check_env)
                                    for _ in range(opts.iterations)])

    rows = []
    portable_rows = []
    for test, vs in variants.items():
        # One warm-up each, then paired iterations.
        for name in [n for n in vs if n.startswith("warm")]:
            subprocess.run(vs[name][0], env=vs[name][1], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times = {name: [] for name in vs}
        for _ in range(opts.iterations):
            for name, (cmd, env, clear) in vs.items():
                if clear:
                    clear()
                times[name].append(timed(cmd, env))
        for mode in ("warm", "cold"):
            if f"{mode}, portable runtime" in times:
                portable_rows.append((test, mode, statistics.median(
                    [s / h for s, h in zip(times[f"{mode}, portable runtime"], times[mode])])))
        for name, samples in times.items():
            ratios = [s / p for s, p in zip(samples, times["pyz"])]
            # PyInstaller onefile extracts on every start: its one mode
            # compares with our cold and temp starts.
            frozen = times.get("PyInstaller onefile")
            versus = statistics.median([s / p for s, p in zip(samples, frozen)]) if frozen else None
            rows.append((test, name, statistics.median(samples) * 1000, statistics.median(ratios), versus))

    size = lambda name: os.path.getsize(os.path.join(out, name))
    sizes = {
        "rtc_test bundle": size("rtc_test"),
        "rtc_test.pyz": size("rtc_test.pyz"),
        "e2e_suite (rtc_test + stem_probe, one runtime)": size("e2e_suite"),
        "lacewing_python (runtime-only bundle)": size("lacewing_python"),
        "stem": os.path.getsize(os.path.join(os.environ.get("LACEWING_TOOLS_DIR", ".build/release"), "lacewing-stem")),
    }
    if opts.portable:
        for test in ("rtc_test", "stem_probe"):
            sizes[f"{test} bundle, portable runtime"] = os.path.getsize(os.path.join(portable_out, test))
    # Ten tests shipped as one runtime bundle and ten .pyz (rtc_test's ten times).
    ten_ours = size("lacewing_python") + 10 * size("rtc_test.pyz")
    sizes["10 tests: runtime bundle + 10 pyz"] = ten_ours
    ratios = {}
    if pyinstaller:
        pi = os.path.getsize(pyinstaller[0])
        sizes["PyInstaller onefile rtc_test"] = pi
        sizes["10 tests: 10 PyInstaller onefiles"] = 10 * pi
        ratios = {"rtc_test bundle / PyInstaller": (size("rtc_test") / pi, 0.9),
                  "10 tests / 10 PyInstaller": (ten_ours / (10 * pi), 0.15)}
        if opts.portable:
            ratios["rtc_test bundle, portable runtime / PyInstaller (no target)"] = (
                sizes["rtc_test bundle, portable runtime"] / pi, None)
        # The case we lose, shown, not held to a target: an app importing two
        # modules, which PyInstaller's import graph trims to just those,
        # while every bundle of ours carries the whole stdlib (stem_probe's
        # bundle stands for any small app's: its own code is a few KB).
        hello = os.path.getsize(pyinstaller_hello(tool, work))
        sizes["stem_probe bundle"] = size("stem_probe")
        sizes["PyInstaller onefile stem_probe (24 stdlib imports)"] = os.path.getsize(probe[0])
        sizes["PyInstaller onefile of a 2-import script"] = hello
        ratios["stem_probe bundle / PyInstaller stem_probe (no target)"] = (
            size("stem_probe") / os.path.getsize(probe[0]), None)
        ratios["a small app's bundle / PyInstaller of a 2-import script (the case we lose; no target)"] = (
            size("stem_probe") / hello, None)
        # The same two cases on runtimes trimmed to what each app imports.
        sizes["hello_trimmed (the 2-import script, trim_to_imports_of)"] = size("hello_trimmed")
        sizes["stem_probe_trimmed (trim_to_imports_of)"] = size("stem_probe_trimmed")
        ratios["hello_trimmed / PyInstaller of the 2-import script (no target)"] = (size("hello_trimmed") / hello, None)
        ratios["stem_probe_trimmed / PyInstaller stem_probe (no target)"] = (
            size("stem_probe_trimmed") / os.path.getsize(probe[0]), None)

    print(f"\nlacewing bench, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, {opts.iterations} paired iterations,"
          f" extracting in {os.path.dirname(work)}")
    print(f"\n| test | variant | median ms | ratio to python3 pyz | ratio to PyInstaller onefile |\n|---|---|---|---|---|")
    for test, name, ms, ratio, versus in rows:
        print(f"| {test} | {name} | {ms:.1f} | {ratio:.2f}x | {f'{versus:.2f}x' if versus else ''} |")
    print("\n| file | bytes |\n|---|---|")
    for name, n in sizes.items():
        print(f"| {name} | {n:,} |")
    print("\n| warm start, paired | ratio |\n|---|---|")
    print(f"| stem_probe with the host check / without it (target <= 1.02x) | {host_check:.3f}x |")
    if opts.portable:
        for test in ("rtc_test", "stem_probe"):
            ratios[f"{test} bundle: portable runtime / this machine's (no target)"] = (
                sizes[f"{test} bundle, portable runtime"] / size(test), None)
        print("\n| start-up, paired | portable runtime / this machine's runtime |\n|---|---|")
        for test, mode, ratio in portable_rows:
            print(f"| {test}, {mode} | {ratio:.2f}x |")
    if ratios:
        print("\n| size ratio | measured | target |\n|---|---|---|")
        for name, (ratio, target) in ratios.items():
            print(f"| {name} | {ratio:.3f} | {'' if target is None else f'<= {target}'} |")
    print("\n| build | seconds |\n|---|---|")
    print(f"| clean, the runtime layer alone (collect, compile, pack; target <= 5 s on 2 cores) | {runtime_build:.1f} |")
    print(f"| clean, rtc_test alone (tools prebuilt, runtime included) | {clean_build:.1f} |")
    print(f"| then the rest of //:default (3 bundles on the same runtime) | {rest_build:.1f} |")
    print(f"| after editing rtc_test.py | {edit_build:.1f} |")
    print(f"| no-op | {noop_build:.2f} |")
    if pyinstaller:
        print(f"| PyInstaller onefile rtc_test, clean (PyInstaller installed) | {pyinstaller[1]:.1f} |")
        print(f"| ratio, clean rtc_test: ours / PyInstaller's | {clean_build / pyinstaller[1]:.2f}x |")
        print(f"| PyInstaller onefile rtc_test, after editing rtc_test.py | {pyinstaller[2]:.1f} |")
    shutil.rmtree(work, ignore_errors=True)
    json.dump({"rows": rows, "sizes": sizes, "ratios": ratios}, open(os.path.join(out, "bench.json"), "w"), indent=2)
    if opts.assert_sizes:
        if not pyinstaller:
            sys.exit("bench: --assert-sizes needs the PyInstaller comparison, which did not run")
        missed = [f"{name} is {ratio:.3f}, above {target}" for name, (ratio, target) in ratios.items() if target is not None and ratio > target]
        if missed:
            sys.exit("bench: size targets missed: " + "; ".join(missed))


if __name__ == "__main__":
    main()
