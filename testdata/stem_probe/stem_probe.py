"""A test that does one thing the stem's tests ask of it, by its argv.

    stem_probe exit N            exit with status N
    stem_probe die SIGNAME       die of that signal (default disposition)
    stem_probe wait              print "ready <pid>" and sleep until signalled
    stem_probe hang              start a child that sleeps ignoring SIGTERM,
                                 print "ready <pid> <child's pid>" and sleep
                                 ignoring SIGTERM: only SIGKILL ends either
    stem_probe child-env         a child started with sys.executable prints
                                 its environment as JSON
    stem_probe where             print cwd, argv[1:] and stdin as JSON
    stem_probe children MOD...   start children as tests start helpers, with
                                 sys.executable: `-c "import MOD"` for each
                                 MOD, and `-m stem_probe exit 7`; print each
                                 one's exit status (and stderr) as JSON
    stem_probe threads           leave busy daemon threads running at exit
    stem_probe path              print sys.executable and sys.path as JSON
    stem_probe imports           what a typical test does first: import two
                                 dozen stdlib modules, native ones among
                                 them, and start one Python child (the
                                 bench's second start-up case)
"""
import json
import os
import signal
import subprocess
import sys
import time


def main(argv):
    command = argv[0] if argv else "exit"
    if command == "exit":
        sys.exit(int(argv[1]) if len(argv) > 1 else 0)
    if command == "die":
        sig = getattr(signal, argv[1])
        if sig != signal.SIGKILL:  # SIGKILL's disposition cannot be set
            signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
        time.sleep(5)
        sys.exit(99)  # not reached
    if command == "hang":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(3600)"
        child = subprocess.Popen([sys.executable, "-c", code])
        print(f"ready {os.getpid()} {child.pid}", flush=True)
        while True:
            time.sleep(60)
    if command == "wait":
        print(f"ready {os.getpid()}", flush=True)
        while True:
            time.sleep(60)
    if command == "child-env":
        code = "import json, os; print(json.dumps(dict(os.environ), sort_keys=True))"
        out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
        sys.stdout.write(out.stdout)
        return
    if command == "children":
        results = {}
        forms = [[sys.executable, "-c", f"import {m}"] for m in argv[1:]]
        forms.append([sys.executable, "-m", "stem_probe", "exit", "7"])
        for form in forms:
            r = subprocess.run(form, capture_output=True, text=True)
            results[" ".join(form[1:3])] = [r.returncode, r.stderr.strip().splitlines()[-1:]]
        print(json.dumps(results, sort_keys=True))
        return
    if command == "threads":
        # CPython ends threads still running at exit with pthread_exit, for
        # which glibc dlopens libgcc_s.so.1.
        import threading

        def spin():
            while True:
                sum(range(1000))

        for _ in range(4):
            threading.Thread(target=spin, daemon=True).start()
        time.sleep(0.05)
        return
    if command == "path":
        print(json.dumps({"executable": [sys.executable], "path": sys.path}))
        return
    if command == "imports":
        import argparse, asyncio, csv, ctypes, datetime, decimal, email.message, hashlib  # noqa: E401
        import http.client, logging, lzma, pathlib, socket, sqlite3, ssl, tempfile  # noqa: E401
        import unittest, urllib.request, uuid, xml.etree.ElementTree, zipfile, zlib  # noqa: E401
        # Frozen by PyInstaller, sys.executable is the app itself, which
        # `exit` ends at once; bundled, it is the test's interpreter.
        child = [sys.executable, "exit"] if getattr(sys, "frozen", False) else [sys.executable, "-c", "pass"]
        subprocess.run(child, check=True)
        return
    if command == "where":
        print(json.dumps({"cwd": os.getcwd(), "argv": argv[1:], "stdin": sys.stdin.read()}))
        return
    sys.exit(f"stem_probe: unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
