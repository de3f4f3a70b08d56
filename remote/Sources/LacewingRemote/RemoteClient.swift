import FoundationEssentials
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import GRPCProtobuf
import SwiftProtobuf

typealias ActionResult = Build_Bazel_Remote_Execution_V2_ActionResult
typealias ExecuteResponse = Build_Bazel_Remote_Execution_V2_ExecuteResponse

/// A cached result names an output the CAS has since evicted.
struct BlobMissing: Error {
  var digest: Digest
}

/// Where and how to reach the REAPI server.
public struct Endpoint: Sendable {
  public var url: String
  public var instance: String
  public var caCert: String?
  public var clientCert: String?
  public var clientKey: String?
  public var bearerToken: String?

  public init(url: String, instance: String) {
    self.url = url
    self.instance = instance
  }

  func target() throws(LauncherError) -> (target: any ResolvableTarget, tls: Bool) {
    let tls: Bool
    let rest: Substring
    if url.hasPrefix("grpc://") {
      tls = false
      rest = url.dropFirst("grpc://".count)
    } else if url.hasPrefix("grpcs://") {
      tls = true
      rest = url.dropFirst("grpcs://".count)
    } else {
      throw .usage(
        "endpoint \(url) is not grpc://HOST:PORT or grpcs://HOST:PORT; fix --endpoint or LACEWING_REMOTE_ENDPOINT")
    }
    let hostPort = rest.split(separator: "/", maxSplits: 1).first.map(String.init) ?? ""
    guard let colon = hostPort.lastIndex(of: ":"), let port = Int(hostPort[hostPort.index(after: colon)...]),
      (1...65535).contains(port)
    else {
      throw .usage("endpoint \(url) has no valid port; write it as grpc://HOST:PORT")
    }
    var host = String(hostPort[..<colon])
    if host.hasPrefix("[") && host.hasSuffix("]") {
      host = String(host.dropFirst().dropLast())
      return (.ipv6(address: host, port: port), tls)
    }
    return (.dns(host: host, port: port), tls)
  }
}

/// The REAPI calls the launcher makes, over one connection. The stubs are
/// hand-written (a handful of methods) rather than generated, which saves
/// building protoc-gen-grpc-swift.
struct RemoteClient: Sendable {
  let client: GRPCClient<HTTP2ClientTransport.Posix>
  let endpoint: Endpoint
  let deadline: ContinuousClock.Instant

  private var metadata: Metadata {
    var metadata: Metadata = [:]
    if let token = endpoint.bearerToken { metadata.addString("Bearer \(token)", forKey: "authorization") }
    return metadata
  }

  private func options(maxResponse: Int? = nil) throws(LauncherError) -> CallOptions {
    var options = CallOptions.defaults
    let remaining = deadline - .now
    guard remaining > .zero else {
      throw .remote("deadline exceeded before the next call")
    }
    options.timeout = remaining
    // Fail at once when the server is down, rather than wait out the deadline.
    options.waitForReady = false
    if let maxResponse { options.maxResponseMessageBytes = maxResponse }
    return options
  }

  private static func method(_ service: String, _ name: String) -> MethodDescriptor {
    MethodDescriptor(fullyQualifiedService: service, method: name)
  }

  private static let execution = "build.bazel.remote.execution.v2.Execution"
  private static let actionCache = "build.bazel.remote.execution.v2.ActionCache"
  private static let cas = "build.bazel.remote.execution.v2.ContentAddressableStorage"
  private static let capabilities = "build.bazel.remote.execution.v2.Capabilities"
  private static let byteStream = "google.bytestream.ByteStream"

  func unary<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
    _ service: String, _ name: String, _ request: Request, as: Response.Type, maxResponse: Int? = nil
  ) async throws -> Response {
    try await client.unary(
      request: ClientRequest(message: request, metadata: metadata),
      descriptor: Self.method(service, name),
      serializer: ProtobufSerializer<Request>(),
      deserializer: ProtobufDeserializer<Response>(),
      options: try options(maxResponse: maxResponse)
    ) { try $0.message }
  }

  func capabilities() async throws -> Build_Bazel_Remote_Execution_V2_ServerCapabilities {
    var request = Build_Bazel_Remote_Execution_V2_GetCapabilitiesRequest()
    request.instanceName = endpoint.instance
    return try await unary(
      Self.capabilities, "GetCapabilities", request, as: Build_Bazel_Remote_Execution_V2_ServerCapabilities.self)
  }

  /// nil when the action cache has no entry.
  func actionResult(for digest: Digest) async throws -> ActionResult? {
    var request = Build_Bazel_Remote_Execution_V2_GetActionResultRequest()
    request.instanceName = endpoint.instance
    request.actionDigest = digest
    request.inlineStdout = true
    request.inlineStderr = true
    do {
      return try await unary(Self.actionCache, "GetActionResult", request, as: ActionResult.self)
    } catch let error as RPCError where error.code == .notFound {
      return nil
    }
  }

  func findMissing(_ digests: [Digest]) async throws -> [Digest] {
    var request = Build_Bazel_Remote_Execution_V2_FindMissingBlobsRequest()
    request.instanceName = endpoint.instance
    request.blobDigests = digests
    return try await unary(
      Self.cas, "FindMissingBlobs", request, as: Build_Bazel_Remote_Execution_V2_FindMissingBlobsResponse.self
    ).missingBlobDigests
  }

  func batchUpdate(_ blobs: [(Digest, Data)]) async throws {
    var request = Build_Bazel_Remote_Execution_V2_BatchUpdateBlobsRequest()
    request.instanceName = endpoint.instance
    request.requests = blobs.map { digest, data in
      var one = Build_Bazel_Remote_Execution_V2_BatchUpdateBlobsRequest.Request()
      one.digest = digest
      one.data = data
      return one
    }
    let response = try await unary(
      Self.cas, "BatchUpdateBlobs", request, as: Build_Bazel_Remote_Execution_V2_BatchUpdateBlobsResponse.self)
    for one in response.responses where one.status.code != 0 {
      throw LauncherError.remote(
        "uploading blob \(one.digest.text) failed: \(one.status.message) (code \(one.status.code))")
    }
  }

  func batchRead(_ digests: [Digest], maxResponse: Int) async throws -> [String: Data] {
    var request = Build_Bazel_Remote_Execution_V2_BatchReadBlobsRequest()
    request.instanceName = endpoint.instance
    request.digests = digests
    let response = try await unary(
      Self.cas, "BatchReadBlobs", request, as: Build_Bazel_Remote_Execution_V2_BatchReadBlobsResponse.self,
      maxResponse: maxResponse)
    var blobs: [String: Data] = [:]
    for one in response.responses {
      if one.status.code == 5 { throw BlobMissing(digest: one.digest) }  // NOT_FOUND
      guard one.status.code == 0 else {
        throw LauncherError.remote(
          "downloading blob \(one.digest.text) failed: \(one.status.message) (code \(one.status.code))")
      }
      blobs[one.digest.hash] = one.data
    }
    return blobs
  }

  /// ByteStream Write in 1 MiB chunks: large blobs exceed gRPC's 4 MiB
  /// default message limit.
  func write(_ digest: Digest, _ data: Data) async throws {
    let prefix = endpoint.instance.isEmpty ? "" : endpoint.instance + "/"
    let resource = "\(prefix)uploads/\(UUID().uuidString.lowercased())/blobs/\(digest.hash)/\(digest.sizeBytes)"
    let chunk = 1 << 20
    let request = StreamingClientRequest(of: Google_Bytestream_WriteRequest.self, metadata: metadata) { writer in
      var offset = 0
      repeat {
        let end = min(offset + chunk, data.count)
        var message = Google_Bytestream_WriteRequest()
        if offset == 0 { message.resourceName = resource }
        message.writeOffset = Int64(offset)
        message.data = data.subdata(in: data.startIndex + offset..<data.startIndex + end)
        message.finishWrite = end == data.count
        try await writer.write(message)
        offset = end
      } while offset < data.count
    }
    let response = try await client.clientStreaming(
      request: request,
      descriptor: Self.method(Self.byteStream, "Write"),
      serializer: ProtobufSerializer<Google_Bytestream_WriteRequest>(),
      deserializer: ProtobufDeserializer<Google_Bytestream_WriteResponse>(),
      options: try options()
    ) { try $0.message }
    // A server may answer early with the full size when it already has the blob.
    guard response.committedSize == digest.sizeBytes || response.committedSize == -1 else {
      throw LauncherError.remote("uploading blob \(digest.text) stopped at \(response.committedSize) bytes")
    }
  }

  func read(_ digest: Digest) async throws -> Data {
    do {
      return try await readStream(digest)
    } catch let error as RPCError where error.code == .notFound {
      throw BlobMissing(digest: digest)
    }
  }

  private func readStream(_ digest: Digest) async throws -> Data {
    let prefix = endpoint.instance.isEmpty ? "" : endpoint.instance + "/"
    var request = Google_Bytestream_ReadRequest()
    request.resourceName = "\(prefix)blobs/\(digest.hash)/\(digest.sizeBytes)"
    return try await client.serverStreaming(
      request: ClientRequest(message: request, metadata: metadata),
      descriptor: Self.method(Self.byteStream, "Read"),
      serializer: ProtobufSerializer<Google_Bytestream_ReadRequest>(),
      deserializer: ProtobufDeserializer<Google_Bytestream_ReadResponse>(),
      options: try options()
    ) { response in
      var data = Data()
      data.reserveCapacity(Int(digest.sizeBytes))
      for try await message in response.messages { data.append(message.data) }
      return data
    }
  }

  func execute(_ digest: Digest) async throws -> ExecuteResponse {
    try await execute(digest, skipCacheLookup: false)
  }

  /// Runs the action and waits for its result, following the operation
  /// stream; when a server or proxy drops a long stream before the action
  /// is done, WaitExecution picks the same operation up again.
  func execute(_ digest: Digest, skipCacheLookup: Bool) async throws -> ExecuteResponse {
    var request = Build_Bazel_Remote_Execution_V2_ExecuteRequest()
    request.skipCacheLookup = skipCacheLookup
    request.instanceName = endpoint.instance
    request.actionDigest = digest
    request.inlineStdout = true
    request.inlineStderr = true
    var final = try await follow(
      "Execute", ClientRequest(message: request, metadata: metadata),
      ProtobufSerializer<Build_Bazel_Remote_Execution_V2_ExecuteRequest>())
    var resumes = 0
    while let operation = final, !operation.done, !operation.name.isEmpty, resumes < 10 {
      resumes += 1
      var wait = Build_Bazel_Remote_Execution_V2_WaitExecutionRequest()
      wait.name = operation.name
      final = try await follow(
        "WaitExecution", ClientRequest(message: wait, metadata: metadata),
        ProtobufSerializer<Build_Bazel_Remote_Execution_V2_WaitExecutionRequest>())
    }
    guard let final, final.done else {
      throw LauncherError.remote("the execution stream ended before the action finished")
    }
    switch final.result {
    case .error(let status)?:
      throw LauncherError.remote("execution failed: \(status.message) (code \(status.code))")
    case .response(let any)?:
      do {
        return try ExecuteResponse(unpackingAny: any)
      } catch {
        throw LauncherError.remote("the server answered with \(any.typeURL), not an ExecuteResponse")
      }
    case nil:
      throw LauncherError.remote("the finished operation carries no result")
    }
  }

  /// The last operation of an Execute or WaitExecution stream.
  private func follow<Request: SwiftProtobuf.Message>(
    _ name: String, _ request: ClientRequest<Request>, _ serializer: ProtobufSerializer<Request>
  ) async throws -> Google_Longrunning_Operation? {
    try await client.serverStreaming(
      request: request,
      descriptor: Self.method(Self.execution, name),
      serializer: serializer,
      deserializer: ProtobufDeserializer<Google_Longrunning_Operation>(),
      options: try options()
    ) { response in
      var last: Google_Longrunning_Operation?
      do {
        for try await operation in response.messages {
          last = operation
          if operation.done { break }
        }
      } catch let error as RPCError where error.code != .deadlineExceeded && last != nil {
        // A dropped stream of a known operation: the caller resumes it.
      }
      return last
    }
  }
}
