import FoundationEssentials
import GRPCCore
import GRPCNIOTransportHTTP2Posix

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

public enum ExecStrategy: String, Sendable, CaseIterable {
  case remote
  case remoteLocalFallback = "remote_local_fallback"
  case local
}

/// Everything the launcher needs, after command-line and environment are merged.
public struct LauncherOptions: Sendable {
  public var spec: ActionSpec
  /// nil: none given on the command line or in the environment.
  public var endpoint: Endpoint?
  public var credentialsFile: String?
  public var strategy: ExecStrategy = .remote
  /// LACEWING_REMOTE_LOG: one line per action, for tests and dashboards.
  public var logFile: String?

  public init(spec: ActionSpec) { self.spec = spec }
}

/// Runs one action per `options` and returns the exit status to exit with.
/// Throws only errors to report as one line and exit 1.
public func runAction(_ options: LauncherOptions) async throws(LauncherError) -> Int32 {
  let started = ContinuousClock.now
  if options.strategy == .local {
    let status = try runLocally(options.spec.arguments)
    if let logFile = options.logFile {
      let digest = (try? options.spec.prepare().actionDigest.text) ?? "-"
      appendLog(logFile, digest, "local", options.spec.outputs, started)
    }
    return status
  }

  let prepared = try options.spec.prepare()
  let failure: LauncherError
  if var endpoint = options.endpoint {
    do {
      if let file = options.credentialsFile {
        endpoint.bearerToken = try readToken(file)
      }
      let (cached, result) = try await runRemotely(
        prepared, endpoint: endpoint, timeoutSeconds: options.spec.timeoutSeconds)
      if let logFile = options.logFile {
        appendLog(logFile, prepared.actionDigest.text, cached ? "hit" : "miss", options.spec.outputs, started)
      }
      writeAll(result.stdout, to: 1)
      writeAll(result.stderr, to: 2)
      return result.exitCode
    } catch {
      failure = describe(error, endpoint: endpoint.url)
    }
  } else {
    failure = .remote(
      "no remote execution endpoint configured; pass --endpoint grpc://HOST:PORT or set LACEWING_REMOTE_ENDPOINT, or use --exec-strategy local"
    )
  }
  guard failure.kind == .remote, options.strategy == .remoteLocalFallback else { throw failure }
  writeAll(Data("lacewing-remote: \(failure.description); falling back to running the tool locally\n".utf8), to: 2)
  let status = try runLocally(options.spec.arguments)
  if let logFile = options.logFile {
    appendLog(logFile, prepared.actionDigest.text, "fallback", options.spec.outputs, started)
  }
  return status
}

private func readToken(_ file: String) throws(LauncherError) -> String {
  guard let data = FileManager.default.contents(atPath: file) else {
    throw .usage("cannot read credentials file \(file); fix --credentials-file or LACEWING_REMOTE_CREDENTIALS_FILE")
  }
  guard let token = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isWhitespace).first else {
    throw .usage("credentials file \(file) is empty; put the bearer token in it")
  }
  return String(token)
}

struct RemoteOutcome {
  var exitCode: Int32
  var stdout: Data
  var stderr: Data
}

/// Turns any error of the remote path into the one line the user sees.
func describe(_ error: any Error, endpoint: String) -> LauncherError {
  if let error = error as? LauncherError {
    guard error.kind == .remote else { return error }
    return .remote("remote execution failed (\(endpoint)): \(error.description); check the server's logs")
  }
  if let error = error as? RPCError {
    // gRPC's messages end with a period; ours add "; what to do".
    let message = error.message.hasSuffix(".") ? String(error.message.dropLast()) : error.message
    switch error.code {
    case .unavailable:
      return .remote(
        "cannot reach the remote execution service (\(endpoint)): \(message); check that it is running and --endpoint/LACEWING_REMOTE_ENDPOINT"
      )
    case .deadlineExceeded:
      return .remote(
        "remote execution timed out (\(endpoint)): \(message); raise --timeout or check the service's load")
    case .unauthenticated, .permissionDenied:
      return .remote(
        "remote execution was refused (\(endpoint)): \(message); check --credentials-file/LACEWING_REMOTE_CREDENTIALS_FILE and the TLS options"
      )
    default:
      return .remote(
        "remote execution failed (\(endpoint)): \(error.code): \(message); check the service's logs and --instance")
    }
  }
  if let error = error as? RuntimeError {
    let message = error.message.hasSuffix(".") ? String(error.message.dropLast()) : error.message
    return .remote(
      "cannot set up the connection (\(endpoint)): \(message); check --endpoint and the TLS options")
  }
  return .remote("remote execution failed (\(endpoint)): \(error); check the service")
}

/// The REAPI flow: cache lookup, upload what is missing, execute, download.
/// Returns whether the result came from the cache.
func runRemotely(_ prepared: PreparedAction, endpoint: Endpoint, timeoutSeconds: Int) async throws -> (
  Bool, RemoteOutcome
) {
  let (target, useTLS) = try endpoint.target()
  for (file, option) in [
    (endpoint.caCert, "--tls-ca-cert"), (endpoint.clientCert, "--tls-client-cert"),
    (endpoint.clientKey, "--tls-client-key"),
  ] {
    if let file, access(file, R_OK) != 0 {
      throw LauncherError.usage(
        "cannot read \(option) file \(file); fix \(option) or its LACEWING_REMOTE_TLS_* variable")
    }
  }
  let security: HTTP2ClientTransport.Posix.TransportSecurity
  if useTLS {
    security = .tls { config in
      if let ca = endpoint.caCert { config.trustRoots = .certificates([.file(path: ca, format: .pem)]) }
      if let cert = endpoint.clientCert { config.certificateChain = [.file(path: cert, format: .pem)] }
      if let key = endpoint.clientKey { config.privateKey = .file(path: key, format: .pem) }
    }
  } else {
    security = .plaintext
  }
  let transport = try HTTP2ClientTransport.Posix(target: target, transportSecurity: security)
  let deadline = ContinuousClock.now + .seconds(timeoutSeconds)
  return try await withGRPCClient(transport: transport) { client in
    let remote = RemoteClient(client: client, endpoint: endpoint, deadline: deadline)
    if let hit = try await remote.actionResult(for: prepared.actionDigest) {
      do {
        return (true, try await download(hit, remote, try await Limits(remote)))
      } catch is BlobMissing {
        // The cache entry outlived its outputs: run the action again.
      }
    }
    let limits = try await Limits(remote)
    try await upload(prepared, remote, limits)
    var response = try await remote.execute(prepared.actionDigest)
    if response.cachedResult {
      do {
        return (true, try await outcome(of: response, remote, limits))
      } catch is BlobMissing {
        response = try await remote.execute(prepared.actionDigest, skipCacheLookup: true)
      }
    }
    return (response.cachedResult, try await outcome(of: response, remote, limits))
  }
}

private func outcome(of response: ExecuteResponse, _ remote: RemoteClient, _ limits: Limits) async throws
  -> RemoteOutcome
{
  if response.status.code != 0 {
    throw LauncherError.remote(
      "the server could not run the action: \(response.status.message) (code \(response.status.code))")
  }
  do {
    return try await download(response.result, remote, limits)
  } catch let missing as BlobMissing {
    throw LauncherError.remote("the server lost output \(missing.digest.text) of the action it just ran")
  }
}

/// How big a batch call may be. gRPC's default message limit is 4 MiB; the
/// server may allow less.
struct Limits {
  var maxBatchBytes: Int
  /// Blobs above this go over ByteStream.
  var maxBatchBlob: Int

  init(_ remote: RemoteClient) async throws {
    var maxBatch = 3 << 20
    do {
      let serverMax = Int(try await remote.capabilities().cacheCapabilities.maxBatchTotalSizeBytes)
      if serverMax > 0 { maxBatch = min(maxBatch, serverMax) }
    } catch let error as RPCError where error.code == .unimplemented {
      // Servers without Capabilities get the conservative default.
    }
    maxBatchBytes = maxBatch
    // Room for the per-blob framing inside a batch.
    maxBatchBlob = min(1 << 20, maxBatch - 4096)
  }
}

private func upload(_ prepared: PreparedAction, _ remote: RemoteClient, _ limits: Limits) async throws {
  let missing = try await remote.findMissing(prepared.blobs.values.map(\.digest))
  var batch: [(Digest, Data)] = []
  var batchBytes = 0
  for digest in missing.sorted(by: { $0.sizeBytes < $1.sizeBytes }) {
    guard let blob = prepared.blobs[digest.hash] else {
      throw LauncherError.remote("the server asked for blob \(digest.text), which this action does not have")
    }
    let data = try blob.source.load()
    if data.count > limits.maxBatchBlob {
      try await remote.write(digest, data)
      continue
    }
    if batchBytes + data.count + 256 > limits.maxBatchBytes && !batch.isEmpty {
      try await remote.batchUpdate(batch)
      batch = []
      batchBytes = 0
    }
    batch.append((digest, data))
    batchBytes += data.count + 256
  }
  if !batch.isEmpty { try await remote.batchUpdate(batch) }
}

private func download(_ result: ActionResult, _ remote: RemoteClient, _ limits: Limits) async throws -> RemoteOutcome {
  var wanted: [Digest] = []
  for file in result.outputFiles where file.contents.isEmpty && file.digest.sizeBytes > 0 { wanted.append(file.digest) }
  if result.stdoutRaw.isEmpty && result.stdoutDigest.sizeBytes > 0 { wanted.append(result.stdoutDigest) }
  if result.stderrRaw.isEmpty && result.stderrDigest.sizeBytes > 0 { wanted.append(result.stderrDigest) }
  var blobs: [String: Data] = [:]
  var batch: [Digest] = []
  var batchBytes = 0
  for digest in wanted where blobs[digest.hash] == nil {
    let size = Int(digest.sizeBytes)
    if size > limits.maxBatchBlob {
      blobs[digest.hash] = try await remote.read(digest)
      continue
    }
    if batchBytes + size + 256 > limits.maxBatchBytes && !batch.isEmpty {
      blobs.merge(try await remote.batchRead(batch, maxResponse: limits.maxBatchBytes + (1 << 20))) { a, _ in a }
      batch = []
      batchBytes = 0
    }
    batch.append(digest)
    batchBytes += size + 256
  }
  if !batch.isEmpty {
    blobs.merge(try await remote.batchRead(batch, maxResponse: limits.maxBatchBytes + (1 << 20))) { a, _ in a }
  }
  func bytes(_ digest: Digest, inline: Data) throws -> Data {
    if !inline.isEmpty || digest.sizeBytes == 0 { return inline }
    guard let data = blobs[digest.hash] else {
      throw LauncherError.remote("the server did not return blob \(digest.text)")
    }
    return data
  }
  for file in result.outputFiles {
    try writeOutput(file.path, try bytes(file.digest, inline: file.contents), executable: file.isExecutable)
  }
  return RemoteOutcome(
    exitCode: result.exitCode,
    stdout: try bytes(result.stdoutDigest, inline: result.stdoutRaw),
    stderr: try bytes(result.stderrDigest, inline: result.stderrRaw))
}
