import Foundation
import LacewingTestSupport
import Testing

extension E2E {
  /// Fuchsia's action-tracer rule, checked with strace on a whole clean build:
  /// every file under the source root, the build dir or the runtime prefix
  /// that an action (or a process it starts) opens for reading is one of its
  /// declared inputs or in its depfile; every directory it lists is in its
  /// depfile; it writes only its outputs, its depfile and temp files next to
  /// its first output. That is what lets an action run on a remote executor.
  @Suite struct ActionAuditTests {
    struct Action {
      var tool: String
      var argv: [String]
      var pids: Set<Int> = []
      var reads: Set<String> = []
      var lists: Set<String> = []
      var writes: Set<String> = []

      func value(_ flag: String) -> String? {
        guard let i = argv.firstIndex(of: flag), i + 1 < argv.count else { return nil }
        return argv[i + 1]
      }
    }

    static let tools = ["collect-artifacts", "make-archive", "fuse-stub", "ldd-allowlist-check"]

    /// Parses `strace -f -v -s 4096` output into the actions of our tools.
    static func actions(_ trace: String, buildDir: String) -> [Action] {
      var parent: [Int: Int] = [:]
      var actionOf: [Int: Int] = [:]
      var actions: [Action] = []
      func owner(_ pid: Int) -> Int? {
        var p: Int? = pid
        while let q = p {
          if let a = actionOf[q] { return a }
          p = parent[q]
        }
        return nil
      }
      func strings(_ s: Substring) -> [String] {
        // "a", "b" ... -> [a, b]; strace escapes quotes inside with \".
        var out: [String] = []
        var cur = ""
        var inString = false
        var escape = false
        for c in s {
          if escape {
            cur.append(c)
            escape = false
            continue
          }
          if c == "\\" && inString {
            escape = true
            continue
          }
          if c == "\"" {
            if inString {
              out.append(cur)
              cur = ""
            }
            inString.toggle()
            continue
          }
          if inString { cur.append(c) }
        }
        return out
      }
      var pending: [Int: String] = [:]
      for raw in trace.split(separator: "\n") {
        guard let space = raw.firstIndex(of: " "), let pid = Int(raw[..<space]) else { continue }
        var line = Substring(raw[raw.index(after: space)...].trimmingCharacters(in: .whitespaces))
        // A call interrupted by another process's: "... <unfinished ...>" now,
        // "<... name resumed>...) = N" later.
        if line.hasSuffix("<unfinished ...>") {
          pending[pid] = String(line.dropLast("<unfinished ...>".count))
          continue
        }
        if line.hasPrefix("<..."), let resumed = line.range(of: "resumed>") {
          line = Substring((pending.removeValue(forKey: pid) ?? "") + line[resumed.upperBound...])
        }
        if line.hasPrefix("clone") || line.hasPrefix("vfork") || line.hasPrefix("fork") {
          // A resumed call has spaces before its "=".
          if let eq = line.range(of: "= ", options: .backwards),
            let child = Int(line[eq.upperBound...].trimmingCharacters(in: .whitespaces))
          {
            parent[child] = pid
          }
        } else if line.hasPrefix("execve("), !line.contains("= -1") {
          let args = strings(line)
          if let exe = args.first, let tool = tools.first(where: { exe.hasSuffix("/" + $0) }) {
            actionOf[pid] = actions.count
            actions.append(Action(tool: tool, argv: Array(args.dropFirst())))
          }
        } else if line.hasPrefix("openat("), !line.contains("= -1"), let a = owner(pid) {
          guard let path = strings(line).first else { continue }
          let full = path.hasPrefix("/") ? path : buildDir + "/" + path
          let normalized = (full as NSString).standardizingPath
          if line.contains("O_DIRECTORY") {
            actions[a].lists.insert(normalized)
          } else if line.contains("O_WRONLY") || line.contains("O_RDWR") || line.contains("O_CREAT") {
            actions[a].writes.insert(normalized)
          } else {
            actions[a].reads.insert(normalized)
          }
        }
      }
      return actions
    }

    /// Explicit and implicit inputs of the build edge producing `output`.
    static func declaredInputs(_ output: String, buildDir: String) throws -> Set<String> {
      let q = try run("ninja", ["-C", buildDir, "-t", "query", output]).stdout
      var inputs = Set<String>()
      var inInputs = false
      for line in q.split(separator: "\n") {
        let t = line.trimmingCharacters(in: .whitespaces)
        if t.hasPrefix("input:") {
          inInputs = true
          continue
        }
        if t.hasPrefix("outputs:") {
          inInputs = false
          continue
        }
        guard inInputs, !t.hasPrefix("||") else { continue }
        let path = t.hasPrefix("| ") ? String(t.dropFirst(2)) : t
        inputs.insert(((path.hasPrefix("/") ? path : buildDir + "/" + path) as NSString).standardizingPath)
      }
      return inputs
    }

    static func depfileInputs(_ depfile: String, buildDir: String) -> Set<String> {
      let text = readText(buildDir + "/" + depfile).replacingOccurrences(of: "\\\n", with: " ")
      guard let colon = text.firstIndex(of: ":") else { return [] }
      return Set(
        text[text.index(after: colon)...].split(whereSeparator: { $0 == " " || $0 == "\n" }).map {
          let p = String($0)
          return ((p.hasPrefix("/") ? p : buildDir + "/" + p) as NSString).standardizingPath
        })
    }

    @Test func everyActionReadsOnlyWhatItDeclares() throws {
      let build = try E2EBuild.get()
      let out = build.dir + "/out-audit"
      let gen = try run("gn", ["gen", out, "--root=" + build.src, "--args=" + build.args])
      #expect(gen.status == 0, "\(gen.output)")
      let trace = build.dir + "/trace.txt"
      let r = try run(
        "strace",
        [
          "-f", "-qq", "-v", "-s", "4096", "-e", "trace=execve,openat,clone,clone3,fork,vfork", "-o", trace, "ninja",
          "-C",
          out, "testdata/rtc_test",
        ])
      #expect(r.status == 0, "\(r.output.suffix(2000))")
      let buildDir = resolvedPath(out)
      let actions = Self.actions(readText(trace), buildDir: buildDir)
      #expect(Set(actions.map(\.tool)) == Set(Self.tools), "traced \(actions.map(\.tool))")
      let roots = [resolvedPath(build.src), buildDir, resolvedPath(build.runtime)]
      func audited(_ path: String) -> Bool { roots.contains { path == $0 || path.hasPrefix($0 + "/") } }

      for action in actions {
        guard let output = action.value("--output") else { continue }
        let outputPath = ((buildDir + "/" + output) as NSString).standardizingPath
        let depfile = action.value("--depfile")
        // Everything the action is told to write: its outputs and depfile.
        // --host-needs is an output of the check and an input of fuse-stub.
        let writable = Set(
          (["--output", "--depfile", "--exclusion-report", "--pack-index", "--size-report", "--size-table"]
            + (action.tool == "ldd-allowlist-check" ? ["--host-needs"] : []))
            .compactMap(action.value).map {
              ((buildDir + "/" + $0) as NSString).standardizingPath
            })
        var declared = try Self.declaredInputs(output, buildDir: buildDir)
        if let depfile { declared.formUnion(Self.depfileInputs(depfile, buildDir: buildDir)) }
        let name = "\(action.tool) \(output)"
        // Its own temp files: a work dir next to its first output, and
        // ".<name>.tmp-<pid>" next to the output or depfile it replaces.
        func ownTemp(_ p: String) -> Bool {
          p == outputPath + ".work" || p.hasPrefix(outputPath + ".work/")
            || writable.contains { target in
              dirName(p) == dirName(target) && baseName(p).hasPrefix("." + baseName(target) + ".tmp-")
            }
        }
        let undeclaredReads = action.reads.filter {
          audited($0) && !declared.contains($0) && !ownTemp($0) && $0 != outputPath
        }
        #expect(undeclaredReads.isEmpty, "\(name) read undeclared files: \(undeclaredReads.sorted().prefix(10))")
        let undeclaredLists = action.lists.filter { audited($0) && !declared.contains($0) && !ownTemp($0) }
        #expect(
          undeclaredLists.isEmpty, "\(name) listed undeclared directories: \(undeclaredLists.sorted().prefix(10))")
        let strayWrites = action.writes.filter { !writable.contains($0) && !ownTemp($0) }
        #expect(strayWrites.isEmpty, "\(name) wrote outside its outputs: \(strayWrites.sorted().prefix(10))")
        // Anywhere else, only the platform a remote worker documents.
        let offPlatform = action.reads.union(action.lists).filter { path in
          !audited(path) && !declared.contains(path)
            && !Self.platform.contains { path == $0 || path.hasPrefix($0 + "/") }
        }
        #expect(offPlatform.isEmpty, "\(name) read off the platform: \(offPlatform.sorted().prefix(10))")
      }
    }

    /// What an action (or a tool it runs: python, patchelf, strip) may read
    /// besides the source root, the build dir, the runtime and its declared
    /// inputs: the remote workers' platform (Debian 12's /usr and /lib, the
    /// loader's cache, the process's own /proc entries, the CPU count
    /// libdispatch reads at start, and the overcommit mode glibc's malloc
    /// reads before it shrinks a thread's heap).
    static let platform = [
      "/usr", "/lib", "/lib64", "/etc/ld.so.cache", "/proc/self", "/dev/null", "/sys/devices/system/cpu",
      "/proc/sys/vm/overcommit_memory",
    ]

    /// A remote worker runs each action in a directory of its own, and a
    /// cache shares outputs between checkouts: no file the build writes may
    /// name the source root or the build dir by absolute path. Depfiles
    /// neither: Ninja matches their paths to its graph's, relative to the
    /// build dir (a system file may be absolute). Every file in the build dir
    /// is read (manifests, depfiles, size reports, stamps, payloads,
    /// bundles), but GN's and Ninja's own bookkeeping.
    @Test func noOutputNamesTheSourceRootOrTheBuildDir() throws {
      let build = try E2EBuild.get()
      let r = try build.ninja()
      #expect(r.status == 0, "\(r.output.suffix(2000))")
      let roots = Set([build.src, resolvedPath(build.src), build.out, resolvedPath(build.out)])
      let gnAndNinja = [".ninja", ".ninja_log", ".ninja_deps", "build.ninja.d", "args.gn"]
      var found: [String] = []
      var read = 0
      let files = FileManager.default.enumerator(atPath: build.out)
      while let file = files?.nextObject() as? String {
        let path = build.out + "/" + file
        var st = stat()
        guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, !gnAndNinja.contains(where: file.hasSuffix)
        else { continue }
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        read += 1
        for root in roots where namesPath(bytes, root) { found.append("\(file) names \(root)") }
      }
      #expect(read > 100, "read only \(read) files of \(build.out)")
      #expect(found.isEmpty, "\(found.sorted().joined(separator: "\n"))")
    }
  }
}

/// Whether `bytes` has `path` followed by anything but more of a file name
/// ("/tmp/x/out" in "/tmp/x/out/lib.so" or "/tmp/x/out\"", not in
/// "/tmp/x/out-audit").
private func namesPath(_ bytes: Data, _ path: String) -> Bool {
  let needle = Array(path.utf8)
  return bytes.withUnsafeBytes { (haystack: UnsafeRawBufferPointer) -> Bool in
    guard let base = haystack.baseAddress, let first = needle.first else { return false }
    var offset = 0
    while offset + needle.count <= haystack.count,
      let hit = memchr(base + offset, Int32(first), haystack.count - offset)
    {
      let start = base.distance(to: hit)
      offset = start + 1
      guard start + needle.count <= haystack.count, memcmp(hit, needle, needle.count) == 0 else { continue }
      let end = start + needle.count
      guard end < haystack.count else { return true }
      let next = haystack[end]
      let nameByte =
        (next >= 0x30 && next <= 0x39) || (next | 0x20 >= 0x61 && next | 0x20 <= 0x7A) || next == 0x2D
        || next == 0x5F || next == 0x2E
      if !nameByte { return true }
    }
    return false
  }
}

private func baseName(_ path: String) -> String {
  (path as NSString).lastPathComponent
}

private func dirName(_ path: String) -> String {
  (path as NSString).deletingLastPathComponent
}
