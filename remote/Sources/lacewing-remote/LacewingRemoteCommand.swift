import ArgumentParser
import FoundationEssentials
import LacewingRemote

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

@main
struct LacewingRemoteCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "lacewing-remote",
    abstract: "Runs one build action on a Remote Execution API v2 service.",
    discussion: """
      Every option except the action's own (--input, --output, ...) can also be set by an \
      environment variable, LACEWING_REMOTE_<OPTION> (e.g. LACEWING_REMOTE_ENDPOINT), so \
      that endpoints and credentials stay out of build files. The command line wins.
      """
  )

  @Option(help: "The directory the input root mirrors (the checkout root).")
  var execRoot: String
  @Option(help: "A declared input file (repeatable).")
  var input: [String] = []
  @Option(help: "A lacewing JSON list whose files are inputs too (repeatable).")
  var inputList: [String] = []
  @Option(help: "An output file, relative to the working directory (repeatable).")
  var output: [String] = []
  @Option(help: "The depfile the tool writes; an output too.")
  var depfile: String?
  @Option(help: "A platform property KEY=VALUE (repeatable); default OSFamily=linux.")
  var platform: [String] = []
  @Option(help: "An environment variable KEY=VALUE for the action (repeatable); default none.")
  var env: [String] = []
  @Option(help: "grpc://HOST:PORT or grpcs://HOST:PORT (env LACEWING_REMOTE_ENDPOINT).")
  var endpoint: String?
  @Option(help: "The REAPI instance name (env LACEWING_REMOTE_INSTANCE).")
  var instance: String?
  @Option(help: "PEM CA certificate for grpcs (env LACEWING_REMOTE_TLS_CA_CERT).")
  var tlsCaCert: String?
  @Option(help: "PEM client certificate for mTLS (env LACEWING_REMOTE_TLS_CLIENT_CERT).")
  var tlsClientCert: String?
  @Option(help: "PEM client key for mTLS (env LACEWING_REMOTE_TLS_CLIENT_KEY).")
  var tlsClientKey: String?
  @Option(help: "A file holding a bearer token (env LACEWING_REMOTE_CREDENTIALS_FILE).")
  var credentialsFile: String?
  @Option(help: "remote, remote_local_fallback or local (env LACEWING_REMOTE_EXEC_STRATEGY).")
  var execStrategy: String?
  @Option(help: "Action timeout and client deadline in seconds (env LACEWING_REMOTE_TIMEOUT); default 600.")
  var timeout: String?
  @Argument(parsing: .postTerminator, help: "TOOL ARG...")
  var command: [String] = []

  func run() async throws {
    do {
      let status = try await runAction(try options())
      throw ExitCode(status)
    } catch let error as LauncherError {
      FileHandleWriter.stderr("lacewing-remote: \(error.description)\n")
      throw ExitCode(1)
    }
  }

  private func options() throws(LauncherError) -> LauncherOptions {
    let environment = ProcessInfo.processInfo.environment
    func setting(_ flag: String?, _ variable: String) -> String? {
      if let flag { return flag }
      if let value = environment[variable], !value.isEmpty { return value }
      return nil
    }
    func pairs(_ values: [String], _ flag: String) throws(LauncherError) -> [(name: String, value: String)] {
      var result: [(name: String, value: String)] = []
      for value in values {
        guard let equals = value.firstIndex(of: "="), equals != value.startIndex else {
          throw LauncherError(.usage, "\(flag) \(value) is not KEY=VALUE")
        }
        result.append((String(value[..<equals]), String(value[value.index(after: equals)...])))
      }
      return result
    }
    guard let cwd = Paths.currentDirectory() else {
      throw LauncherError(.usage, "cannot determine the working directory")
    }
    guard let root = Paths.real(execRoot.hasPrefix("/") ? execRoot : cwd + "/" + execRoot) else {
      throw LauncherError(.usage, "exec root \(execRoot) does not exist; pass the checkout root (GN: ../..)")
    }
    var spec = ActionSpec(execRoot: root, workingDirectory: cwd, arguments: command)
    spec.inputs = input
    spec.inputLists = inputList
    spec.outputs = output + (depfile.map { [$0] } ?? [])
    spec.platform = try pairs(platform, "--platform")
    spec.environment = try pairs(env, "--env")
    let timeoutText = setting(timeout, "LACEWING_REMOTE_TIMEOUT") ?? "600"
    guard let seconds = Int(timeoutText), seconds > 0 else {
      throw LauncherError(
        .usage, "timeout \(timeoutText) is not a positive number of seconds; fix --timeout or LACEWING_REMOTE_TIMEOUT")
    }
    spec.timeoutSeconds = seconds

    var options = LauncherOptions(spec: spec)
    let strategyText = setting(execStrategy, "LACEWING_REMOTE_EXEC_STRATEGY") ?? "remote"
    guard let strategy = ExecStrategy(rawValue: strategyText) else {
      throw LauncherError(
        .usage,
        "exec strategy \(strategyText) is unknown; use remote, remote_local_fallback or local (--exec-strategy or LACEWING_REMOTE_EXEC_STRATEGY)"
      )
    }
    options.strategy = strategy
    if let url = setting(endpoint, "LACEWING_REMOTE_ENDPOINT") {
      var remote = Endpoint(url: url, instance: instance ?? environment["LACEWING_REMOTE_INSTANCE"] ?? "")
      remote.caCert = setting(tlsCaCert, "LACEWING_REMOTE_TLS_CA_CERT")
      remote.clientCert = setting(tlsClientCert, "LACEWING_REMOTE_TLS_CLIENT_CERT")
      remote.clientKey = setting(tlsClientKey, "LACEWING_REMOTE_TLS_CLIENT_KEY")
      options.endpoint = remote
    }
    options.credentialsFile = setting(credentialsFile, "LACEWING_REMOTE_CREDENTIALS_FILE")
    options.logFile = setting(nil, "LACEWING_REMOTE_LOG")
    return options
  }
}

enum FileHandleWriter {
  static func stderr(_ text: String) {
    var bytes = Array(text.utf8)
    _ = write(2, &bytes, bytes.count)
  }
}
