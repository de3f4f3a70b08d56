"""A test that does one thing the stem's tests ask of it, by its argv.

    stem_probe exit N            exit with status N
    stem_probe die SIGNAME       die of that signal (default disposition)
    stem_probe wait              print "ready <pid>" and sleep until signalled
    stem_probe child-env         a child started with sys.executable prints
                                 its environment as JSON
    stem_probe where             print cwd, argv[1:] and stdin as JSON
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
    if command == "wait":
        print(f"ready {os.getpid()}", flush=True)
        while True:
            time.sleep(60)
    if command == "child-env":
        code = "import json, os; print(json.dumps(dict(os.environ), sort_keys=True))"
        out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
        sys.stdout.write(out.stdout)
        return
    if command == "where":
        print(json.dumps({"cwd": os.getcwd(), "argv": argv[1:], "stdin": sys.stdin.read()}))
        return
    sys.exit(f"stem_probe: unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
