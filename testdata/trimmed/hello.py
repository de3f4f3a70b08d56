"""A small app: two stdlib imports (the bench's case against PyInstaller,
which ships only what an app imports)."""
import json
import sys

print(json.dumps(sys.argv[1:]))
