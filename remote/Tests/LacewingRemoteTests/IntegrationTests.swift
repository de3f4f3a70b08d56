import Foundation
import Testing

/// The engine's env file (LACEWING_REMOTE_ENDPOINT=..., LACEWING_REMOTE_INSTANCE=...),
/// or nil: then the tests that need a real REAPI service are skipped.
private let engine: [String: String]? = {
  guard let path = ProcessInfo.processInfo.environment["LACEWING_REMOTE_ENGINE_ENV"], !path.isEmpty else {
    print(
      "lacewing-remote integration tests against a real engine are skipped: LACEWING_REMOTE_ENGINE_ENV is not set (build/remote-engine.sh start, then point it at out/remote-engine/env)"
    )
    return nil
  }
  guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
    print("lacewing-remote integration tests are skipped: cannot read LACEWING_REMOTE_ENGINE_ENV=\(path)")
    return nil
  }
  var values: [String: String] = [:]
  for line in text.split(separator: "\n") {
    guard let equals = line.firstIndex(of: "=") else { continue }
    values[String(line[..<equals])] = String(line[line.index(after: equals)...])
  }
  return values
}()

/// The bot's executions.log beside the engine's env file, when there is one.
private func engineExecutionsLog() -> String? {
  guard let path = ProcessInfo.processInfo.environment["LACEWING_REMOTE_ENGINE_ENV"] else { return nil }
  let log = (path as NSString).deletingLastPathComponent + "/executions.log"
  return try? String(contentsOfFile: log, encoding: .utf8)
}

/// A checkout with a tool in src/ and a build directory out/x, as GN lays it out.
private struct Checkout {
  let scratch: Scratch
  var root: String { scratch.path }
  var buildDir: String { scratch.path + "/out/x" }
  let log: String
  /// Random bytes, so the first run of each test is a cache miss.
  let nonce = UUID().uuidString

  init() throws {
    scratch = try Scratch()
    _ = try scratch.mkdir("out/x")
    log = scratch.path + "/remote.log"
    try scratch.write("src/data.txt", "data \(nonce)\n")
    try scratch.write(
      "src/tool.sh",
      """
      #!/bin/sh
      # tool.sh OUT STATUS: writes OUT (executable) and gen/plain.txt, talks on both streams.
      mkdir -p gen
      { echo "made from"; cat ../../src/data.txt; } > "$1"
      chmod 755 "$1"
      echo plain > gen/plain.txt
      echo "tool stdout"
      echo "tool stderr" >&2
      exit "$2"
      """, mode: 0o755)
  }

  func run(_ extra: [String], status: Int = 0, environment: [String: String] = [:]) throws -> Run {
    var env = environment
    env["LACEWING_REMOTE_LOG"] = log
    return try runLauncher(
      [
        "--exec-root", "../..", "--input", "../../src/data.txt", "--output", "gen/out.bin",
        "--output", "gen/plain.txt",
      ] + extra + ["--", "../../src/tool.sh", "gen/out.bin", "\(status)"],
      cwd: buildDir, environment: env)
  }

  func logLines() -> [[Substring]] {
    let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
    return text.split(separator: "\n").map { $0.split(separator: " ") }
  }

  func mode(_ relative: String) throws -> Int {
    let attributes = try FileManager.default.attributesOfItem(atPath: buildDir + "/" + relative)
    return (attributes[.posixPermissions] as? Int ?? 0) & 0o777
  }

  func contents(_ relative: String) -> String? {
    try? String(contentsOfFile: buildDir + "/" + relative, encoding: .utf8)
  }
}

@Suite struct IntegrationTests {
  @Test(.enabled(if: engine != nil, "LACEWING_REMOTE_ENGINE_ENV is not set"))
  func outputsExitBitAndCacheHit() throws {
    let checkout = try Checkout()
    let engine = engine ?? [:]
    let first = try checkout.run([], environment: engine)
    #expect(first.status == 0, "\(first.stderr)")
    #expect(first.stdout == "tool stdout\n")
    #expect(first.stderr == "tool stderr\n")
    #expect(checkout.contents("gen/out.bin") == "made from\ndata \(checkout.nonce)\n")
    #expect(try checkout.mode("gen/out.bin") == 0o755)
    #expect(try checkout.mode("gen/plain.txt") == 0o644)

    try FileManager.default.removeItem(atPath: checkout.buildDir + "/gen")
    let second = try checkout.run([], environment: engine)
    #expect(second.status == 0, "\(second.stderr)")
    #expect(second.stdout == "tool stdout\n")
    #expect(second.stderr == "tool stderr\n")
    #expect(checkout.contents("gen/out.bin") == "made from\ndata \(checkout.nonce)\n")
    #expect(try checkout.mode("gen/out.bin") == 0o755)

    let lines = checkout.logLines()
    #expect(lines.map { $0.count > 1 ? String($0[1]) : "" } == ["miss", "hit"])
    #expect(lines.count == 2 && lines[0][0] == lines[1][0])
    #expect(lines.first.map { String($0[2]) } == "gen/out.bin,gen/plain.txt")

    // The launcher's own "hit" is not proof: the engine's bot logs each
    // action it runs, and must have run this one once.
    if let hash = lines.first.map({ String($0[0]) }), let executions = engineExecutionsLog() {
      let runs = executions.split(separator: "\n").filter { $0.hasPrefix(hash + " ") }
      #expect(runs.count == 1, "the engine ran \(hash) \(runs.count) times")
    }
  }

  /// Ninja's restat prunes what depends on an output the action did not
  /// change: a cached result equal to the file there leaves it untouched.
  @Test(.enabled(if: engine != nil, "LACEWING_REMOTE_ENGINE_ENV is not set"))
  func anUnchangedOutputKeepsItsMtime() throws {
    let checkout = try Checkout()
    let engine = engine ?? [:]
    #expect(try checkout.run([], environment: engine).status == 0)
    let output = checkout.buildDir + "/gen/out.bin"
    let old = Date(timeIntervalSince1970: 1_000_000_000)
    try FileManager.default.setAttributes([.modificationDate: old], ofItemAtPath: output)
    #expect(try checkout.run([], environment: engine).status == 0)
    let mtime = try FileManager.default.attributesOfItem(atPath: output)[.modificationDate] as? Date
    #expect(mtime == old, "the launcher rewrote an output whose bytes had not changed")
  }

  @Test(.enabled(if: engine != nil, "LACEWING_REMOTE_ENGINE_ENV is not set"))
  func failingToolStatusAndStderrPassThrough() throws {
    let checkout = try Checkout()
    let run = try checkout.run([], status: 3, environment: engine ?? [:])
    #expect(run.status == 3)
    #expect(run.stderr == "tool stderr\n")
    #expect(run.stdout == "tool stdout\n")
  }

  @Test(.enabled(if: engine != nil, "LACEWING_REMOTE_ENGINE_ENV is not set"))
  func largeBlobsGoOverByteStream() throws {
    let checkout = try Checkout()
    // Over gRPC's 4 MiB message limit both ways.
    var bytes = [UInt8](repeating: 0, count: 6 << 20)
    for i in bytes.indices { bytes[i] = UInt8(truncatingIfNeeded: i &* 2_654_435_761 >> 7) }
    bytes.replaceSubrange(0..<36, with: Array(checkout.nonce.utf8))
    try Data(bytes).write(to: URL(fileURLWithPath: checkout.root + "/src/big.bin"))
    try checkout.scratch.write("src/copy.sh", "#!/bin/sh\ncp ../../src/big.bin \"$1\"\n", mode: 0o755)
    var env = engine ?? [:]
    env["LACEWING_REMOTE_LOG"] = checkout.log
    let run = try runLauncher(
      [
        "--exec-root", "../..", "--input", "../../src/big.bin", "--output", "big.out", "--",
        "../../src/copy.sh", "big.out",
      ], cwd: checkout.buildDir, environment: env)
    #expect(run.status == 0, "\(run.stderr)")
    #expect(FileManager.default.contents(atPath: checkout.buildDir + "/big.out") == Data(bytes))
  }

  @Test(.enabled(if: engine != nil, "LACEWING_REMOTE_ENGINE_ENV is not set"))
  func deadlineExceededIsOneLineAndExit1() throws {
    let checkout = try Checkout()
    try checkout.scratch.write("src/slow.sh", "#!/bin/sh\n# \(checkout.nonce)\nsleep 10\n", mode: 0o755)
    let run = try runLauncher(
      ["--exec-root", "../..", "--timeout", "2", "--", "../../src/slow.sh"], cwd: checkout.buildDir,
      environment: engine ?? [:])
    #expect(run.status == 1)
    #expect(run.stderr.split(separator: "\n").count == 1, "\(run.stderr)")
    #expect(run.stderr.hasPrefix("lacewing-remote: remote execution "), "\(run.stderr)")
  }

  @Test func unreachableEndpointIsOneLineAndExit1() throws {
    let checkout = try Checkout()
    let run = try checkout.run(["--endpoint", "grpc://127.0.0.1:9", "--timeout", "20"])
    #expect(run.status == 1)
    #expect(run.stdout == "")
    let lines = run.stderr.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
    #expect(lines.count == 1, "\(run.stderr)")
    #expect(run.stderr.hasPrefix("lacewing-remote: cannot reach the remote execution service (grpc://127.0.0.1:9): "))
    #expect(checkout.contents("gen/out.bin") == nil)
  }

  @Test func remoteLocalFallbackRunsLocally() throws {
    let checkout = try Checkout()
    let run = try checkout.run(
      ["--exec-strategy", "remote_local_fallback"], status: 4,
      environment: ["LACEWING_REMOTE_ENDPOINT": "grpc://127.0.0.1:9"])
    #expect(run.status == 4)
    #expect(run.stdout == "tool stdout\n")
    let lines = run.stderr.split(separator: "\n").map(String.init)
    #expect(lines.count == 2, "\(run.stderr)")
    #expect(lines.first?.hasPrefix("lacewing-remote: ") == true && lines.first?.contains("falling back") == true)
    #expect(lines.last == "tool stderr")
    #expect(checkout.contents("gen/out.bin") == "made from\ndata \(checkout.nonce)\n")
    #expect(checkout.logLines().first.map { String($0[1]) } == "fallback")
  }

  @Test func localStrategyNeedsNoEndpoint() throws {
    let checkout = try Checkout()
    let run = try checkout.run([], environment: ["LACEWING_REMOTE_EXEC_STRATEGY": "local"])
    #expect(run.status == 0, "\(run.stderr)")
    #expect(run.stderr == "tool stderr\n")
    #expect(checkout.contents("gen/out.bin") == "made from\ndata \(checkout.nonce)\n")
    #expect(checkout.logLines().first.map { String($0[1]) } == "local")
  }

  @Test func commandLineWinsOverEnvironment() throws {
    let checkout = try Checkout()
    let run = try checkout.run(
      ["--exec-strategy", "local"], environment: ["LACEWING_REMOTE_EXEC_STRATEGY": "remote"])
    #expect(run.status == 0, "\(run.stderr)")
  }

  @Test func noEndpointSaysWhatToSet() throws {
    let checkout = try Checkout()
    let run = try checkout.run([])
    #expect(run.status == 1)
    #expect(run.stderr.contains("LACEWING_REMOTE_ENDPOINT"))
    #expect(run.stderr.split(separator: "\n").count == 1)
  }
}
