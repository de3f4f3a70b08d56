import FoundationEssentials
import SwiftProtobuf

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

typealias Directory = Build_Bazel_Remote_Execution_V2_Directory
typealias FileNode = Build_Bazel_Remote_Execution_V2_FileNode
typealias DirectoryNode = Build_Bazel_Remote_Execution_V2_DirectoryNode

/// The Merkle tree of an action's inputs, rooted at the exec root.
struct InputRoot {
  private final class Node {
    var files: [String: FileNode] = [:]
    var directories: [String: Node] = [:]
  }

  private let root = Node()
  /// Every blob the tree refers to (files and Directory messages), by hash.
  private(set) var blobs: [String: (digest: Digest, source: BlobSource)] = [:]

  /// Adds the file at `diskPath` as `relativePath` (relative to the exec
  /// root, normalized). A directory adds everything under it. Symlinks are
  /// followed: the worker gets the content under the name the tool uses.
  mutating func add(relativePath: String, diskPath: String, declaredAs: String) throws(LauncherError) {
    var info = stat()
    guard stat(diskPath, &info) == 0 else {
      throw .usage(
        "input \(declaredAs) does not exist (\(diskPath)); build it first or fix the --input/--input-list that names it"
      )
    }
    if (info.st_mode & S_IFMT) == S_IFDIR {
      let children: [String]
      do {
        children = try FileManager.default.contentsOfDirectory(atPath: diskPath).sorted()
      } catch {
        throw .usage("cannot list input directory \(declaredAs) (\(diskPath)): \(error)")
      }
      if relativePath.isEmpty {
        throw .usage("input \(declaredAs) is the whole exec root; declare the files the tool reads instead")
      }
      _ = try node(for: relativePath.split(separator: "/").map(String.init), declaredAs: declaredAs)
      for child in children {
        try add(relativePath: relativePath + "/" + child, diskPath: diskPath + "/" + child, declaredAs: declaredAs)
      }
      return
    }
    guard (info.st_mode & S_IFMT) == S_IFREG else {
      throw .usage("input \(declaredAs) (\(diskPath)) is not a regular file or directory; declare regular files only")
    }
    guard let data = FileManager.default.contents(atPath: diskPath) else {
      throw .usage("cannot read input \(declaredAs) (\(diskPath)); check its permissions")
    }
    var components = relativePath.split(separator: "/").map(String.init)
    guard let name = components.popLast() else {
      throw .usage("input \(declaredAs) is the exec root itself, not a file")
    }
    let parent = try node(for: components, declaredAs: declaredAs)
    if parent.directories[name] != nil {
      throw .usage("input \(declaredAs) is a file, but other inputs are under it as a directory")
    }
    var file = FileNode()
    file.name = name
    file.digest = Digest(of: data)
    file.isExecutable = (info.st_mode & S_IXUSR) != 0
    parent.files[name] = file
    blobs[file.digest.hash] = (file.digest, .file(diskPath))
  }

  /// Makes sure `relativePath` exists as a directory, because REAPI requires
  /// the working directory to be in the input root even when it holds no input.
  mutating func addDirectory(relativePath: String) throws(LauncherError) {
    _ = try node(for: relativePath.split(separator: "/").map(String.init), declaredAs: relativePath)
  }

  private func node(for components: [String], declaredAs: String) throws(LauncherError) -> Node {
    var node = root
    for component in components {
      if node.files[component] != nil {
        throw .usage("input \(declaredAs) needs \(component) to be a directory, but it is also declared as a file")
      }
      if let child = node.directories[component] {
        node = child
      } else {
        let child = Node()
        node.directories[component] = child
        node = child
      }
    }
    return node
  }

  /// Serializes every Directory bottom-up and returns the root's digest.
  mutating func finish() -> Digest {
    finish(root)
  }

  private mutating func finish(_ node: Node) -> Digest {
    var directory = Directory()
    // REAPI requires nodes sorted by name (by code point; UTF-8 byte order
    // equals code point order).
    directory.files = node.files.keys.sorted(by: Self.byteOrder).map { node.files[$0]! }
    directory.directories = node.directories.keys.sorted(by: Self.byteOrder).map { name in
      var child = DirectoryNode()
      child.name = name
      child.digest = finish(node.directories[name]!)
      return child
    }
    let bytes = Self.serialize(directory)
    let digest = Digest(of: bytes)
    blobs[digest.hash] = (digest, .bytes(bytes))
    return digest
  }

  static func byteOrder(_ a: String, _ b: String) -> Bool {
    a.utf8.lexicographicallyPrecedes(b.utf8)
  }

  static func serialize(_ message: some SwiftProtobuf.Message) -> Data {
    // Serializing a fully built message in memory cannot fail: there are no
    // required fields in proto3 and no Any with unknown types here.
    (try? message.serializedBytes()) ?? Data()
  }
}
