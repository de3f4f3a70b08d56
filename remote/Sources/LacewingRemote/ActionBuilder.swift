import FoundationEssentials
import LacewingKit
import SwiftProtobuf

typealias Action = Build_Bazel_Remote_Execution_V2_Action
typealias Command = Build_Bazel_Remote_Execution_V2_Command
typealias Platform = Build_Bazel_Remote_Execution_V2_Platform

/// What one action is, as the launcher's arguments describe it.
public struct ActionSpec: Sendable {
  /// The exec root and the working directory, absolute.
  public var execRoot: String
  public var workingDirectory: String
  /// TOOL and its arguments, verbatim.
  public var arguments: [String]
  public var inputs: [String] = []
  public var inputLists: [String] = []
  public var outputs: [String] = []
  public var platform: [(name: String, value: String)] = []
  public var environment: [(name: String, value: String)] = []
  public var timeoutSeconds: Int = 600

  public init(execRoot: String, workingDirectory: String, arguments: [String]) {
    self.execRoot = execRoot
    self.workingDirectory = workingDirectory
    self.arguments = arguments
  }
}

/// The messages and blobs of one action, ready to look up or upload.
struct PreparedAction {
  var action: Action
  var actionDigest: Digest
  var command: Command
  /// Output paths relative to the working directory, sorted.
  var outputPaths: [String]
  var blobs: [String: (digest: Digest, source: BlobSource)]
}

extension ActionSpec {
  func prepare() throws(LauncherError) -> PreparedAction {
    guard !arguments.isEmpty else {
      throw .usage("no tool to run; put it after \"--\": lacewing-remote [options] -- TOOL ARG...")
    }
    let root = Paths.normalize(absolute: execRoot)
    let cwd = Paths.normalize(absolute: workingDirectory)
    guard let workingRelative = Paths.relative(cwd, to: root) else {
      throw .usage(
        "the working directory \(cwd) is not under the exec root \(root); run from the build directory and pass --exec-root as the checkout root"
      )
    }

    var tree = InputRoot()
    try tree.addDirectory(relativePath: workingRelative)

    // A platform path (absolute, outside the exec root) is the worker
    // image's business; a relative path that climbs out of the exec root
    // names a file the worker cannot have, so it is an error.
    // Manifests name the same wheel once per member, hundreds of times:
    // hash each path once.
    var added: Set<String> = []
    func addInput(_ path: String, declaredAs: String) throws(LauncherError) {
      let absolute = Paths.absolute(path, from: cwd)
      guard let relative = Paths.relative(absolute, to: root) else {
        if path.hasPrefix("/") { return }
        throw .usage(
          "input \(declaredAs) resolves to \(absolute), outside the exec root \(root); move it into the checkout or name it by an absolute platform path"
        )
      }
      guard added.insert(relative).inserted else { return }
      try tree.add(relativePath: relative, diskPath: absolute, declaredAs: declaredAs)
    }

    // A bare tool name is looked up on the worker's PATH: a platform tool.
    if arguments[0].contains("/") {
      try addInput(arguments[0], declaredAs: arguments[0])
    }
    for input in inputs {
      try addInput(input, declaredAs: input)
    }
    var named: [String] = []
    for list in inputLists {
      try addInput(list, declaredAs: list)
      let listed: [String]
      do {
        listed = try ActionInputs.files(listedIn: Paths.absolute(list, from: cwd))
      } catch {
        throw .usage("input list \(list): \(error.message); build it first or fix --input-list")
      }
      for referenced in listed {
        do {
          try addInput(referenced, declaredAs: referenced)
        } catch {
          throw .usage("input list \(list) names \(referenced): \(error.description)")
        }
        named.append(Paths.absolute(referenced, from: cwd))
      }
    }
    // Shared libraries an extension links that the tools find by searching
    // the build dir (collect-artifacts' --lib-dir .): GN built them, but no
    // list names them. Only shared objects can need one.
    let objects = (inputs.map { Paths.absolute($0, from: cwd) } + named).filter {
      $0.split(separator: "/").last?.contains(".so") ?? false
    }
    for library in ActionInputs.libraries(neededBy: objects, in: [cwd]) {
      try addInput(library, declaredAs: library)
    }

    var outputPaths: [String] = []
    for output in outputs {
      let absolute = Paths.absolute(output, from: cwd)
      guard let relative = Paths.relative(absolute, to: cwd), !relative.isEmpty else {
        throw .usage(
          "output \(output) is not under the working directory \(cwd); outputs must be in the build directory")
      }
      outputPaths.append(relative)
    }
    outputPaths = Array(Set(outputPaths)).sorted(by: InputRoot.byteOrder)

    var command = Command()
    command.arguments = arguments
    command.workingDirectory = workingRelative
    command.outputPaths = outputPaths
    // Servers older than REAPI v2.1 only read output_files; newer ones
    // ignore it when output_paths is set.
    command.outputFiles = outputPaths
    command.environmentVariables = sortedPairs(environment).map { pair in
      var variable = Command.EnvironmentVariable()
      variable.name = pair.name
      variable.value = pair.value
      return variable
    }
    var platformMessage = Platform()
    let properties = platform.isEmpty ? [(name: "OSFamily", value: "linux")] : platform
    platformMessage.properties = sortedPairs(properties).map { pair in
      var property = Platform.Property()
      property.name = pair.name
      property.value = pair.value
      return property
    }
    command.platform = platformMessage

    let commandBytes = InputRoot.serialize(command)
    let commandDigest = Digest(of: commandBytes)
    let inputRootDigest = tree.finish()

    var action = Action()
    action.commandDigest = commandDigest
    action.inputRootDigest = inputRootDigest
    action.timeout = Google_Protobuf_Duration(seconds: Int64(timeoutSeconds), nanos: 0)
    action.doNotCache = false
    // v2.2 servers read the platform from the Action; older ones from the Command.
    action.platform = platformMessage
    let actionBytes = InputRoot.serialize(action)
    let actionDigest = Digest(of: actionBytes)

    var blobs = tree.blobs
    blobs[commandDigest.hash] = (commandDigest, .bytes(commandBytes))
    blobs[actionDigest.hash] = (actionDigest, .bytes(actionBytes))
    return PreparedAction(
      action: action, actionDigest: actionDigest, command: command, outputPaths: outputPaths, blobs: blobs)
  }
}

/// Sorted by name (then value) so the digest does not depend on flag order.
private func sortedPairs(_ pairs: [(name: String, value: String)]) -> [(name: String, value: String)] {
  pairs.sorted { a, b in
    a.name == b.name ? InputRoot.byteOrder(a.value, b.value) : InputRoot.byteOrder(a.name, b.name)
  }
}
