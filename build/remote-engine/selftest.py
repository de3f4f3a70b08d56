"""Round trips through the running remote engine, as a REAPI client would.

  selftest.py capabilities ENDPOINT INSTANCE
      GetCapabilities; exit 0 when the server answers (start waits on it).
  selftest.py run ENDPOINT INSTANCE PLATFORM EXECUTIONS_LOG
      1. uploads an input root (a Python tool under tool/, a small data file,
         and a 5 MiB one that goes through ByteStream), runs it from out/x as
         ../../tool/run.py: it reads the data files, writes an executable
         output file, a copy of the big one and a line on stderr, exits 0;
         checks the outputs' bytes (the big one read with ByteStream) and
         exec bits, the stderr, and one new line in executions.log;
      2. runs the same action again: an action-cache hit, no new line;
      3. runs actions that read a file that was not uploaded (beside the
         input root's files, and a path of this checkout on the host): each
         fails, and its stderr names the file.

ENDPOINT is host:port. Test harness, not product; grpc and the REAPI protos
come from the engine's venv (the buildgrid package).
"""

import hashlib
import os
import sys
import time
import uuid

import grpc
from buildgrid._protos.build.bazel.remote.execution.v2 import remote_execution_pb2 as re_pb2
from buildgrid._protos.build.bazel.remote.execution.v2 import remote_execution_pb2_grpc as re_grpc
from buildgrid._protos.google.bytestream import bytestream_pb2, bytestream_pb2_grpc

TOOL = b"""#!/usr/bin/python3.11
import json, os, sys, zlib
with open("../../data/input.txt", "rb") as f:
    data = f.read()
os.makedirs("result", exist_ok=True)
with open("result/out.txt", "wb") as f:
    f.write(b"out:" + data.upper())
os.chmod("result/out.txt", 0o755)
with open("../../data/big.bin", "rb") as src, open("result/big.bin", "wb") as dst:
    dst.write(src.read())
print("selftest-stderr: cwd=%s crc=%d" % (os.getcwd(), zlib.crc32(data)), file=sys.stderr)
"""
DATA = b"hello from the input root\n"
# Over the 4 MiB gRPC message limit: ByteStream both ways.
BIG = hashlib.sha256(b"lacewing").digest() * (5 * 1024 * 1024 // 32)
CHUNK = 1024 * 1024


def fail(message):
    sys.exit(f"selftest: FAILED: {message}")


def digest_of(blob):
    return re_pb2.Digest(hash=hashlib.sha256(blob).hexdigest(), size_bytes=len(blob))


class Client:
    def __init__(self, endpoint, instance):
        self.channel = grpc.insecure_channel(endpoint)
        self.instance = instance
        self.cas = re_grpc.ContentAddressableStorageStub(self.channel)
        self.execution = re_grpc.ExecutionStub(self.channel)
        self.capabilities = re_grpc.CapabilitiesStub(self.channel)
        self.bytestream = bytestream_pb2_grpc.ByteStreamStub(self.channel)
        self.blobs = {}

    def add(self, blob):
        digest = digest_of(blob)
        self.blobs[digest.hash] = (digest, blob)
        return digest

    def add_message(self, message):
        return self.add(message.SerializeToString(deterministic=True))

    def write(self, blob):
        """A blob too big for BatchUpdateBlobs, through ByteStream.Write."""
        digest = digest_of(blob)
        name = f"{self.instance}/uploads/{uuid.uuid4()}/blobs/{digest.hash}/{digest.size_bytes}"

        def chunks():
            for offset in range(0, len(blob), CHUNK):
                yield bytestream_pb2.WriteRequest(
                    resource_name=name if offset == 0 else "", write_offset=offset,
                    data=blob[offset:offset + CHUNK], finish_write=offset + CHUNK >= len(blob))

        answer = self.bytestream.Write(chunks(), timeout=60)
        if answer.committed_size != len(blob):
            fail(f"ByteStream.Write committed {answer.committed_size} of {len(blob)} bytes")
        return digest

    def read_stream(self, digest):
        name = f"{self.instance}/blobs/{digest.hash}/{digest.size_bytes}"
        return b"".join(r.data for r in self.bytestream.Read(
            bytestream_pb2.ReadRequest(resource_name=name), timeout=60))

    def upload(self):
        requests = [re_pb2.BatchUpdateBlobsRequest.Request(digest=d, data=b) for d, b in self.blobs.values()]
        answer = self.cas.BatchUpdateBlobs(
            re_pb2.BatchUpdateBlobsRequest(instance_name=self.instance, requests=requests), timeout=30)
        for response in answer.responses:
            if response.status.code != 0:
                fail(f"upload of {response.digest.hash}: {response.status}")
        self.blobs = {}

    def read(self, digest):
        if digest.size_bytes == 0:
            return b""
        answer = self.cas.BatchReadBlobs(
            re_pb2.BatchReadBlobsRequest(instance_name=self.instance, digests=[digest]), timeout=30)
        if answer.responses[0].status.code != 0:
            fail(f"read of {digest.hash}: {answer.responses[0].status}")
        return answer.responses[0].data

    def execute(self, action_digest):
        operation = None
        for operation in self.execution.Execute(
                re_pb2.ExecuteRequest(instance_name=self.instance, action_digest=action_digest),
                timeout=180):
            if operation.done:
                break
        if operation is None or not operation.done:
            fail("Execute ended without a finished operation")
        if operation.HasField("error"):
            fail(f"Execute: {operation.error}")
        response = re_pb2.ExecuteResponse()
        operation.response.Unpack(response)
        if response.status.code != 0:
            fail(f"Execute status: {response.status}")
        return response


def directory(files=(), dirs=()):
    d = re_pb2.Directory()
    for name, node in sorted(files):
        d.files.add(name=name, digest=node[0], is_executable=node[1])
    for name, node in sorted(dirs):
        d.directories.add(name=name, digest=node)
    return d


def make_action(client, root, argv, workdir, outputs, platform, nonce):
    command = re_pb2.Command(arguments=argv, working_directory=workdir, output_paths=outputs)
    command.environment_variables.add(name="LACEWING_SELFTEST_NONCE", value=nonce)
    command.environment_variables.add(name="PATH", value="/usr/bin:/bin")
    command.platform.properties.add(name="OSFamily", value="linux")
    command.platform.properties.add(name="lacewing-platform", value=platform)
    action = re_pb2.Action(command_digest=client.add_message(command),
                           input_root_digest=client.add_message(root))
    return client.add_message(action)


def count_lines(path):
    try:
        with open(path) as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0


def run(endpoint, instance, platform, executions_log):
    client = Client(endpoint, instance)
    nonce = f"{time.time_ns()}"
    empty = client.add_message(re_pb2.Directory())
    tool_dir = client.add_message(directory(files=[("run.py", (client.add(TOOL), True))]))
    big = client.write(BIG)
    data_dir = client.add_message(directory(files=[("big.bin", (big, False)),
                                                   ("input.txt", (client.add(DATA), False))]))
    out_dir = client.add_message(directory(dirs=[("x", empty)]))
    root = directory(dirs=[("data", data_dir), ("out", out_dir), ("tool", tool_dir)])
    action = make_action(client, root, ["../../tool/run.py"], "out/x",
                         ["result/big.bin", "result/out.txt"], platform, nonce)
    client.upload()

    # 1. Executed on the worker.
    before = count_lines(executions_log)
    start = time.monotonic()
    response = client.execute(action)
    took = time.monotonic() - start
    result = response.result
    if response.cached_result:
        fail("first run was a cache hit")
    if result.exit_code != 0:
        fail(f"exit code {result.exit_code}, stderr: {client.read(result.stderr_digest)!r}")
    files = {f.path: f for f in result.output_files}
    if set(files) != {"result/big.bin", "result/out.txt"}:
        fail(f"output files {sorted(files)}")
    if files["result/big.bin"].digest != big or client.read_stream(big) != BIG:
        fail("the big output file differs from the big input")
    if files["result/big.bin"].is_executable:
        fail("the big output file is executable")
    out = files["result/out.txt"]
    if client.read(out.digest) != b"out:" + DATA.upper():
        fail(f"output bytes {client.read(out.digest)!r}")
    if not out.is_executable:
        fail("output file lost its exec bit")
    stderr = client.read(result.stderr_digest).decode()
    if "selftest-stderr: cwd=/out/x crc=" not in stderr:
        fail(f"stderr {stderr!r}")
    after = count_lines(executions_log)
    if after != before + 1:
        fail(f"{after - before} new lines in {executions_log}, expected 1")
    print(f"selftest: executed remotely in {took:.2f}s: output bytes and exec bits (5 MiB through ByteStream "
          "both ways), stderr, one execution logged")

    # 2. The same action again: from the action cache.
    start = time.monotonic()
    response = client.execute(action)
    took = time.monotonic() - start
    if not response.cached_result:
        fail("second run was not an action-cache hit")
    if count_lines(executions_log) != after:
        fail("the cached action was executed again")
    if {f.path: f.digest.hash for f in response.result.output_files}["result/out.txt"] != out.digest.hash:
        fail("cached result differs")
    print(f"selftest: second run is an action-cache hit in {took:.2f}s, nothing executed")

    # 3. Undeclared inputs: a file beside the uploaded ones that was not
    # uploaded, and a file of this checkout on the host.
    host_file = os.path.abspath(__file__)
    for path in ["../../data/secret.txt", host_file]:
        script = f"#!/usr/bin/python3.11\nopen({path!r}).read()\n".encode()
        tool = client.add_message(directory(files=[("run.py", (client.add(script), True))]))
        root = directory(dirs=[("data", data_dir), ("out", out_dir), ("tool", tool)])
        action = make_action(client, root, ["../../tool/run.py"], "out/x", [], platform, nonce)
        client.upload()
        result = client.execute(action).result
        stderr = client.read(result.stderr_digest).decode()
        if result.exit_code == 0:
            fail(f"reading {path} that is not an input succeeded")
        if "No such file or directory" not in stderr or path not in stderr:
            fail(f"reading {path}: unexpected stderr {stderr!r}")
        print(f"selftest: reading {path} (not an input) fails: "
              f"{stderr.strip().splitlines()[-1]}")
    print("selftest: OK")


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "capabilities":
        channel = grpc.insecure_channel(sys.argv[2])
        try:
            re_grpc.CapabilitiesStub(channel).GetCapabilities(
                re_pb2.GetCapabilitiesRequest(instance_name=sys.argv[3]), timeout=5)
        except grpc.RpcError as error:
            sys.exit(f"GetCapabilities: {error.code().name}: {error.details()}")
        return
    if len(sys.argv) == 6 and sys.argv[1] == "run":
        run(*sys.argv[2:])
        return
    sys.exit(__doc__)


if __name__ == "__main__":
    main()
