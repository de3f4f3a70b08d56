import Foundation
import LacewingTestSupport
import Testing

/// A real minimal Debian root (build/debian-roots.sh: debootstrap's minbase,
/// no Python), to run bundles in as a host of that release. Each run gets a
/// private mount namespace with /proc, a fresh /tmp (whose /tmp/home is the
/// run's HOME) and the bundles' directory at /lacewing, read-only, so the
/// cached root itself is never written.
struct DebianRoot {
  let suite: String
  let path: String

  /// Who runs the bundle: root, or nobody (65534) with a HOME of its own.
  enum User { case root, nobody }

  /// Makes (or finds, cached per machine) the roots of these suites.
  static func make(_ suites: [String]) throws -> [String: DebianRoot] {
    let r = try LacewingTestSupport.run(Repo.root + "/build/debian-roots.sh", suites)
    guard r.status == 0 else { throw TestSetupError("build/debian-roots.sh failed:\n\(r.output)") }
    var roots: [String: DebianRoot] = [:]
    for line in r.stdout.split(separator: "\n") {
      let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
      if parts.count == 2 { roots[parts[0]] = DebianRoot(suite: parts[0], path: parts[1]) }
    }
    guard roots.count == suites.count else { throw TestSetupError("build/debian-roots.sh printed:\n\(r.stdout)") }
    return roots
  }

  /// Every file named python* in the root's bin directories.
  func pythons() throws -> [String] {
    let r = try LacewingTestSupport.run(
      "find", ["bin/", "sbin/", "usr/bin/", "usr/sbin/", "usr/local/bin/", "-name", "python*"], directory: path)
    return r.stdout.split(separator: "\n").map(String.init)
  }

  /// What one run left: the process's result, and every path under its
  /// /tmp (HOME included) afterwards.
  struct Run {
    var result: ProcessResult
    var leftInTmp: [String]
  }

  /// Runs `/lacewing/<command[0]> command[1...]` in the root with
  /// build/run-in-root.sh (`bundles` mounted at /lacewing, only `env`, HOME
  /// and PATH set), and looks at what it left in its /tmp. `proc: false`
  /// leaves /proc unmounted; `loader: false` hides the glibc loader, as on
  /// a host without glibc.
  func run(
    _ command: [String], in bundles: String, user: User = .root, env: [String: String] = [:], proc: Bool = true,
    loader: Bool = true
  ) throws -> Run {
    let tmp = try makeTemporaryDirectory("root-tmp")
    defer { try? FileManager.default.removeItem(atPath: tmp) }
    var args = ["--user", user == .root ? "root" : "nobody", "--tmp", tmp]
    for (name, value) in env.sorted(by: { $0.key < $1.key }) { args += ["--env", name + "=" + value] }
    if !proc { args.append("--no-proc") }
    if !loader { args.append("--no-loader") }
    let result = try LacewingTestSupport.run(
      Repo.root + "/build/run-in-root.sh", args + [suite, bundles] + command)
    var left: [String] = []
    let e = FileManager.default.enumerator(atPath: tmp)
    while let item = e?.nextObject() as? String {
      if item != "home" { left.append(item) }
    }
    return Run(result: result, leftInTmp: left)
  }
}

/// One GN + Ninja build of the repo's testdata on the portable runtime
/// (build/portable-python.sh) against the Debian 11 sysroot
/// (build/sysroot.sh), both cached per machine, into a build dir of its own.
final class PortableBuild: Sendable {
  let out: String
  let sysroot: String
  let python: String
  let wheels: Bool

  static let shared: Result<PortableBuild, any Error> = Result { try PortableBuild() }

  static func get() throws -> PortableBuild { try shared.get() }

  private init() throws {
    sysroot = try TestSysroot.path
    python = try TestSysroot.python
    out = try makeTemporaryDirectory("portable") + "/out"
    wheels = WheelCache.reachable
    if wheels { _ = try WheelCache.require() }
    let args =
      "lacewing_tools_dir=\"\(Repo.toolsDir)\" lacewing_python=\"\(python)\" lacewing_sysroot=\"\(sysroot)\" "
      + "lacewing_compression_level=1 lacewing_runtime_pack_level=3 lacewing_wheel_dir=\"\(WheelCache.dir)\""
    let gen = try run("gn", ["gen", out, "--root=" + Repo.root, "--args=" + args])
    guard gen.status == 0 else { throw TestSetupError("gn gen of the portable build failed:\n\(gen.output)") }
    let targets = wheels ? ["default", "third_party_cases"] : ["default"]
    let ninja = try run("ninja", ["-C", out] + targets)
    guard ninja.status == 0 else {
      throw TestSetupError("ninja of the portable build failed:\n\(ninja.output.suffix(5000))")
    }
  }
}

extension E2E {
  /// Issue #21: bundles built on the portable runtime against the Debian 11
  /// sysroot run on Debian 11, 12 and 13 as they are (debootstrap minbase, no
  /// Python), as root and as an unprivileged user; bundles built on this
  /// machine's runtime refuse an older host with one line of their own.
  @Suite struct PortableTests {
    static let suites = ["bullseye", "bookworm", "trixie"]

    /// What each bundle is run with, and the status it must give.
    static let cases: [(command: [String], status: Int32, needsWheels: Bool)] = [
      (["rtc_test"], 0, false),
      (["rtc_test", "--force-failure"], 1, false),
      (["e2e_suite", "rtc_test"], 0, false),
      (["e2e_suite", "stem_probe", "exit", "4"], 4, false),
      (["lacewing_python", "/lacewing/rtc_test.pyz"], 0, false),
      (["numpy_test"], 0, true),
      (["mobly_rtc_test"], 0, true),
      (["mobly_rtc_test", "--force-failure"], 1, true),
    ]

    @Test func theRootsAreRealReleasesWithNoPython() throws {
      let roots = try DebianRoot.make(Self.suites)
      for suite in Self.suites {
        let root = try #require(roots[suite])
        #expect(try root.pythons().isEmpty, "\(suite)")
        let os = readText(root.path + "/etc/os-release")
        let version = ["bullseye": "11", "bookworm": "12", "trixie": "13"][suite]!
        #expect(os.contains("VERSION_ID=\"\(version)\""), "\(suite): \(os)")
      }
    }

    @Test(arguments: ["bullseye", "bookworm", "trixie"])
    func portableBundlesPass(suite: String) throws {
      let build = try PortableBuild.get()
      let root = try #require(try DebianRoot.make([suite])[suite])
      for user in [DebianRoot.User.root, .nobody] {
        for c in Self.cases where build.wheels || !c.needsWheels {
          let r = try root.run(c.command, in: build.out, user: user)
          #expect(
            r.result.status == c.status,
            "\(suite) as \(user): \(c.command.joined(separator: " ")):\n\(r.result.output.suffix(2000))")
          if c.command == ["mobly_rtc_test"] {
            // GN's testbed config and params reached the test.
            #expect(r.result.output.contains("Executed 5, Failed 0, Passed 5"), "\(r.result.output.suffix(2000))")
            #expect(r.result.output.contains("\"greeting\": \"params from GN\""), "\(r.result.output.suffix(2000))")
          }
        }
      }
    }

    /// The runtime of this machine (Debian 12) needs glibc 2.36: on Debian 11
    /// its bundle says so in one line, with the stem's own status, before it
    /// extracts anything, for root and for a user with a fresh HOME.
    @Test func aBundleOfThisMachinesRuntimeRefusesDebian11InOneLine() throws {
      let build = try E2EBuild.get()
      let root = try #require(try DebianRoot.make(["bullseye"])["bullseye"])
      for user in [DebianRoot.User.root, .nobody] {
        for mode in [[:], ["LACEWING_EXTRACT": "temp"]] {
          let r = try root.run(["rtc_test"], in: build.out, user: user, env: mode)
          #expect(r.result.status == 126, "\(user) \(mode): \(r.result.output)")
          let lines = r.result.stderr.split(separator: "\n")
          #expect(lines.count == 1, "\(r.result.stderr)")
          #expect(r.result.stderr.hasPrefix("lacewing: "), "\(r.result.stderr)")
          #expect(r.result.stderr.contains("glibc 2.36"), "\(r.result.stderr)")
          #expect(r.result.stderr.contains("glibc 2.31"), "\(r.result.stderr)")
          #expect(!r.result.stderr.contains("not found"), "a loader's message: \(r.result.stderr)")
          #expect(r.leftInTmp.isEmpty, "extracted: \(r.leftInTmp)")
        }
      }
    }

    /// A host with no /proc, and one with no glibc loader (as on musl
    /// systems), each get one line naming what the bundle needs.
    @Test func noProcAndNoLoaderEachGiveTheirLine() throws {
      let build = try PortableBuild.get()
      let root = try #require(try DebianRoot.make(["trixie"])["trixie"])
      let noProc = try root.run(["rtc_test"], in: build.out, user: .nobody, proc: false)
      #expect(noProc.result.status == 126, "\(noProc.result.output)")
      #expect(noProc.result.stderr.split(separator: "\n").count == 1, "\(noProc.result.stderr)")
      #expect(noProc.result.stderr.contains("/proc"), "\(noProc.result.stderr)")
      #expect(noProc.leftInTmp.isEmpty, "extracted: \(noProc.leftInTmp)")

      let noLoader = try root.run(["rtc_test"], in: build.out, user: .nobody, loader: false)
      #expect(noLoader.result.status == 126, "\(noLoader.result.output)")
      #expect(noLoader.result.stderr.split(separator: "\n").count == 1, "\(noLoader.result.stderr)")
      #expect(noLoader.result.stderr.contains("/lib64/ld-linux-x86-64.so.2"), "\(noLoader.result.stderr)")
      #expect(noLoader.leftInTmp.isEmpty, "extracted: \(noLoader.leftInTmp)")

      // The control: the same root with both, as it is.
      let control = try root.run(["rtc_test"], in: build.out, user: .nobody)
      #expect(control.result.status == 0, "\(control.result.output)")
    }
  }
}
