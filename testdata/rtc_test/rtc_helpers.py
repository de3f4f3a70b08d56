"""Helpers for rtc_test: command-line options, logging and a reading log."""

import argparse
import logging
import sqlite3
import sys


def parse_options(argv):
    """Parses the test's own options out of `argv` (without the program name).

    Unknown arguments are tolerated and returned, so that a harness may pass
    extra arguments through; the bundler's tests rely on this to check that
    arbitrary argv survives bundling (see --echo-argv).
    """
    parser = argparse.ArgumentParser(prog="rtc_test", description=__doc__)
    parser.add_argument(
        "--force-failure",
        action="store_true",
        help="make one test fail, to check that failures reach the exit status",
    )
    parser.add_argument(
        "--year", type=int, default=2024, help="year to set on the device (default: %(default)s)"
    )
    parser.add_argument(
        "--echo-argv",
        action="store_true",
        help="print the raw arguments as one JSON line on stdout before testing",
    )
    return parser.parse_known_args(argv)


def configure_logging():
    # stdout is reserved for the --echo-argv line, so progress goes to stderr.
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # asyncio logs every subprocess transport at INFO, drowning the test's own
    # progress messages.
    logging.getLogger("asyncio").setLevel(logging.WARNING)


class ReadingLog:
    """Records RTC readings in an in-memory SQLite database."""

    def __init__(self):
        self._db = sqlite3.connect(":memory:")
        self._db.execute(
            "CREATE TABLE readings ("
            " id INTEGER PRIMARY KEY,"
            " source TEXT NOT NULL,"
            " taken_at TEXT NOT NULL)"  # ISO 8601, so text order is time order.
        )

    def close(self):
        self._db.close()

    def record(self, source, when):
        """Stores a reading `when` (a datetime) from `source`."""
        with self._db:  # Commits, or rolls back on error.
            self._db.execute(
                "INSERT INTO readings (source, taken_at) VALUES (?, ?)",
                (source, when.isoformat()),
            )

    def count(self, source=None):
        if source is None:
            (n,) = self._db.execute("SELECT COUNT(*) FROM readings").fetchone()
        else:
            (n,) = self._db.execute(
                "SELECT COUNT(*) FROM readings WHERE source = ?", (source,)
            ).fetchone()
        return n

    def latest(self, source):
        """Returns the latest ISO timestamp recorded for `source`, or None."""
        (latest,) = self._db.execute(
            "SELECT MAX(taken_at) FROM readings WHERE source = ?", (source,)
        ).fetchone()
        return latest
