#!/usr/bin/env python3
"""Fetches the pinned third-party wheels into the wheel cache, outside git.

    build/fetch-wheels.sh [--lock third_party/python/requirements.lock] [--dest out/wheels]

Binary wheels only (`--only-binary=:all:`), each checked against its pinned
sha256 (`--require-hashes`), for the bundled runtime's Python (cp311) and
platform (manylinux x86_64 up to glibc 2.28 here). Dependencies are not
resolved: every wheel a bundle needs is pinned in the lock. Errors name the
package and say what to do; exit status 1 for a bad pin or wheel, 3 when
PyPI cannot be reached (tests that need wheels report that case as such).
"""
import argparse
import hashlib
import os
import re
import subprocess
import sys

PYTHON = "/usr/bin/python3.11"
UNREACHABLE = 3


def pins(lock):
    out = []
    for n, line in enumerate(open(lock), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)==([A-Za-z0-9_.+!-]+)\s+--hash=sha256:([0-9a-f]{64})", line)
        if not m:
            sys.exit(f"fetch-wheels: {lock}:{n}: expected 'name==version --hash=sha256:<64 hex>', got {line!r}")
        out.append(m.groups())
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lock", default="third_party/python/requirements.lock")
    ap.add_argument("--dest", default=os.environ.get("LACEWING_WHEEL_DIR", "out/wheels"))
    ap.add_argument("--python-version", default="3.11")
    opts = ap.parse_args()
    pinned = pins(opts.lock)
    tag = "cp" + opts.python_version.replace(".", "")
    os.makedirs(opts.dest, exist_ok=True)
    cmd = [PYTHON, "-m", "pip", "download", "--disable-pip-version-check", "--no-deps", "--require-hashes",
           "--only-binary=:all:", "--implementation", "cp", "--python-version", opts.python_version,
           "--abi", tag, "--abi", "abi3", "--abi", "none",
           "--platform", "manylinux2014_x86_64", "--platform", "manylinux_2_17_x86_64",
           "--platform", "manylinux_2_28_x86_64", "--platform", "linux_x86_64",
           "-r", opts.lock, "-d", opts.dest]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        err = r.stdout + r.stderr
        if re.search(r"NewConnectionError|Temporary failure in name resolution|Network is unreachable|"
                     r"Max retries exceeded|ProxyError|timed out", err):
            print(f"fetch-wheels: PyPI is unreachable; cannot fetch the wheels pinned in {opts.lock}", file=sys.stderr)
            sys.exit(UNREACHABLE)
        bad = re.findall(r"^\s*([A-Za-z0-9_.-]+)==\S+ from .*:\n\s*Expected sha256 (\w+)\n\s*Got\s+(\w+)", err, re.M)
        for name, expected, got in bad:
            print(f"fetch-wheels: {name}: the wheel PyPI served has sha256 {got}, not the pinned {expected}; "
                  f"change the pin in {opts.lock} only if you trust the new file", file=sys.stderr)
        missing = re.findall(r"No matching distribution found for (\S+)", err)
        for spec in missing:
            print(f"fetch-wheels: {spec}: PyPI has no binary wheel of it for CPython {opts.python_version} on "
                  f"manylinux x86_64; pin a version that has one (see pypi.org/project/{spec.split('==')[0]}/#files)",
                  file=sys.stderr)
        if not bad and not missing:
            print(err, file=sys.stderr)
            print(f"fetch-wheels: pip download failed for {opts.lock}", file=sys.stderr)
        sys.exit(1)
    # pip checked each download; say what is where, for the GN files.
    for name, version, digest in pinned:
        found = [f for f in os.listdir(opts.dest) if f.lower().startswith(f"{name.lower().replace('-', '_')}-{version}-")]
        ok = [f for f in found if hashlib.sha256(open(os.path.join(opts.dest, f), "rb").read()).hexdigest() == digest]
        if not ok:
            sys.exit(f"fetch-wheels: {name}=={version}: no wheel matching its pin in {opts.dest} after download")
        print(f"fetch-wheels: {name}=={version}: {os.path.join(opts.dest, ok[0])}")


if __name__ == "__main__":
    main()
