import Foundation
import LacewingKit
import LacewingTestSupport
import Testing

extension E2E {
  /// Real `gn gen` + `ninja` on testdata, real bundles run where no Python is.
  /// Serialized: the tests share one build dir and some of them edit inputs.
  @Suite struct EndToEndTests {
    let build: E2EBuild

    init() throws {
      build = try E2EBuild.get()
    }

    @Test func bundleRunsInARootWithNoPython() throws {
      // Not even /dev: the bundle needs nothing but the allowlisted libraries.
      let root = try PythonlessRoot(bundles: ["rtc_test": build.bundle], devices: false)
      defer { root.remove() }
      #expect(root.pythons().isEmpty)
      #expect(!FileManager.default.fileExists(atPath: root.path + "/usr"))
      let env = ["LACEWING_CACHE_DIR": "/cache", "HOME": "/nonexistent"]

      let pass = try root.run("rtc_test", [], env: env)
      #expect(pass.status == 0, "\(pass.output)")
      #expect(pass.stdout == "", "the stem and a passing test print nothing on stdout")
      #expect(pass.stderr.contains("OK"))

      let fail = try root.run("rtc_test", ["--force-failure"], env: env)
      #expect(fail.status == 1, "\(fail.output)")
      #expect(fail.stderr.contains("FAILED"))

      let weird = ["a b", "", "ü", "--year", "2031", "'\"$HOME"]
      let echo = try root.run("rtc_test", ["--echo-argv"] + weird, env: env)
      #expect(echo.status == 0, "\(echo.output)")
      let argv = try JSONDecoder().decode([String].self, from: Data(echo.stdout.utf8))
      #expect(argv == ["--echo-argv"] + weird)
    }

    @Test func aRunWritesNothingIntoItsCacheEntry() throws {
      let dir = try makeTemporaryDirectory("readonly-entry")
      defer { try? FileManager.default.removeItem(atPath: dir) }
      /// Every path under `cache` with its size and mtime.
      func tree(_ cache: String) -> [String: String] {
        let e = FileManager.default.enumerator(atPath: cache)
        var out: [String: String] = [:]
        while let p = e?.nextObject() as? String {
          let attrs = try? FileManager.default.attributesOfItem(atPath: cache + "/" + p)
          out[p] =
            "\((attrs?[.size] as? Int) ?? -1) \((attrs?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0)"
        }
        return out
      }
      func pycaches(_ tree: [String: String]) -> [String] { tree.keys.filter { $0.contains("__pycache__") }.sorted() }
      /// The stdlib ships as bytecode: the tree holds the extracted runtime.
      func stdlibBytecode(_ tree: [String: String]) -> [String] {
        tree.keys.filter { $0.hasSuffix("/python/lib/python3.11/os.pyc") }
      }
      // PYTHONDONTWRITEBYTECODE is not inherited: it reaches the bundle's
      // interpreter (CPython reads it before the ._pth) and would do -B's work.
      func env(_ cache: String) -> [String: String] {
        environment(["LACEWING_CACHE_DIR": cache, "PYTHONDONTWRITEBYTECODE": nil])
      }

      // The bundle's own interpreter, kept from writing by -B (its
      // interpreter_args): lacewing_python imports modules and starts no
      // child. A run that compiled anything (its sitecustomize, say) would
      // have made a __pycache__.
      let alone = dir + "/alone"
      let r = try run(build.out + "/lacewing_python", ["-c", "import json"], environment: env(alone))
      #expect(r.status == 0, "\(r.output)")
      let aloneTree = tree(alone)
      #expect(stdlibBytecode(aloneTree).count == 1, "\(aloneTree.keys.sorted().prefix(20))")
      #expect(pycaches(aloneTree).isEmpty, "\(pycaches(aloneTree))")

      // rtc_test, whose children run sys.executable: a second run finds the
      // entries as the first left them.
      let cache = dir + "/rtc_test"
      #expect(try run(build.bundle, [], environment: env(cache)).status == 0)
      let before = tree(cache)
      #expect(try run(build.bundle, [], environment: env(cache)).status == 0)
      #expect(tree(cache) == before)
      #expect(stdlibBytecode(before).count == 1, "\(before.keys.sorted().prefix(20))")
      // Its children run without -B: the runtime's sitecustomize (compiled
      // at build time) keeps them from writing bytecode too.
      #expect(pycaches(before).isEmpty, "\(pycaches(before))")
    }

    @Test func tempModeRemovesItsExtraction() throws {
      let root = try PythonlessRoot(bundles: ["rtc_test": build.bundle])
      defer { root.remove() }
      let r = try root.run("rtc_test", [], env: ["LACEWING_EXTRACT": "temp", "TMPDIR": "/tmp"])
      #expect(r.status == 0, "\(r.output)")
      #expect(try FileManager.default.contentsOfDirectory(atPath: root.path + "/tmp").isEmpty)
      #expect(try FileManager.default.contentsOfDirectory(atPath: root.path + "/cache").isEmpty)
    }

    /// Ambient Python settings of the caller have no effect on the bundle, on a
    /// host that does have a Python of its own.
    @Test func ambientPythonSettingsHaveNoEffect() throws {
      let dir = try makeTemporaryDirectory("ambient")
      defer { try? FileManager.default.removeItem(atPath: dir) }
      // A module shadowing one the test imports.
      try writeText("raise SystemExit('shadow json imported')\n", to: dir + "/shadow/json/__init__.py")
      let env = environment([
        "PYTHONPATH": dir + "/shadow", "PYTHONHOME": "/nonexistent", "PYTHONUSERBASE": dir + "/shadow",
        "PYTHONPLATLIBDIR": "nonexistent", "PYTHONNOUSERSITE": nil, "LACEWING_CACHE_DIR": dir + "/cache",
      ])
      let r = try run(build.bundle, [], environment: env)
      #expect(r.status == 0, "\(r.output)")
      #expect(!r.output.contains("shadow json imported"))

      // A startup file runs only in interactive mode: `-i` with stdin from a
      // pipe, given to the runtime-only bundle as to python3. The control,
      // the host's python3.11 in the same environment, runs it before the
      // first statement; the bundle, isolated by its ._pth, does not.
      try writeText("print('startup ran')\n", to: dir + "/startup.py")
      let statement = "print('interactive', 6 * 7)\n"
      let startupEnv = environment(["PYTHONSTARTUP": dir + "/startup.py", "LACEWING_CACHE_DIR": dir + "/cache"])
      let host = try run("/usr/bin/python3.11", ["-i"], environment: startupEnv, stdin: statement)
      #expect(host.status == 0 && host.stdout == "startup ran\ninteractive 42\n", "\(host.output)")
      let bundled = try run(build.out + "/lacewing_python", ["-i"], environment: startupEnv, stdin: statement)
      #expect(bundled.status == 0 && bundled.stdout == "interactive 42\n", "\(bundled.output)")
    }

    /// The host's libraries on LD_LIBRARY_PATH cannot replace the bundle's:
    /// every bundled ELF finds its libraries through DT_RPATH, which ld.so
    /// searches before LD_LIBRARY_PATH (a DT_RUNPATH comes after it). In the
    /// runtime-only bundle, after `import ssl, pyexpat, ctypes`, and in a
    /// child started with sys.executable, every libssl, libcrypto, libexpat
    /// and libffi mapped is the runtime entry's; the child, and a host
    /// program the test starts, see the caller's LD_LIBRARY_PATH unchanged
    /// (the stem never touches it).
    @Test func ldLibraryPathCannotReplaceBundledLibraries() throws {
      let dir = try makeTemporaryDirectory("ld-library-path")
      defer { try? FileManager.default.removeItem(atPath: dir) }
      let hostDirs = "/usr/lib/x86_64-linux-gnu:/lib/x86_64-linux-gnu"
      let mapped = """
        sorted({line.split()[-1] for line in open("/proc/self/maps")
                if any(n in line for n in ("libssl", "libcrypto", "libexpat", "libffi"))})
        """
      let child = """
        import ssl, pyexpat, ctypes, json, os
        print(json.dumps({"maps": \(mapped), "variable": os.environ.get("LD_LIBRARY_PATH")}))
        """
      let script = """
        import ssl, pyexpat, ctypes, json, subprocess, sys
        child = subprocess.run([sys.executable, "-c", sys.argv[1]], capture_output=True, text=True, check=True)
        host = subprocess.run(["/usr/bin/env"], capture_output=True, text=True, check=True)
        print(json.dumps({"maps": \(mapped), "child": json.loads(child.stdout),
                          "env": [l for l in host.stdout.splitlines() if l.startswith("LD_LIBRARY_PATH=")]}))
        """
      let r = try run(
        build.out + "/lacewing_python", ["-c", script, child],
        environment: environment(["LACEWING_CACHE_DIR": dir + "/cache", "LD_LIBRARY_PATH": hostDirs]))
      try #require(r.status == 0, "\(r.output)")
      struct Child: Decodable {
        var maps: [String]
        var variable: String?
      }
      struct Seen: Decodable {
        var maps: [String]
        var child: Child
        var env: [String]
      }
      let seen = try JSONDecoder().decode(Seen.self, from: Data(r.stdout.utf8))
      let runtimeEntry = resolvedPath(dir + "/cache") + "/" + BundleLayout.runtimeCacheKeyPrefix
      for (who, maps) in [("the bundle", seen.maps), ("its child", seen.child.maps)] {
        for name in ["libssl.so", "libcrypto.so", "libexpat.so", "libffi.so"] {
          let files = maps.filter { ($0 as NSString).lastPathComponent.hasPrefix(name) }
          #expect(files.count == 1, "\(who) maps \(files) for \(name): \(maps)")
        }
        for file in maps {
          #expect(file.hasPrefix(runtimeEntry) && file.contains("/python/lib/"), "\(who) mapped \(file)")
        }
      }
      #expect(seen.child.variable == hostDirs, "\(r.stdout)")
      #expect(seen.env == ["LD_LIBRARY_PATH=" + hostDirs], "\(r.stdout)")
    }

    @Test func samePyzRunsUnbundled() throws {
      // The documented non-hermetic mode: extensions via PYTHONPATH, data from
      // rtc_test_runfiles/ next to the pyz.
      let env = environment(["PYTHONPATH": build.out, "FIDL_IR_PATH": nil])
      // The pyz carries bytecode compiled by the bundled runtime next to each module.
      let names = try ZipContents.read(build.out + "/rtc_test.pyz").map(\.name)
      #expect(names.contains("rtc_test.pyc") && names.contains("lacewing_utils/fidl_ir.pyc"), "\(names)")
      let r = try run("/usr/bin/python3.11", [build.out + "/rtc_test.pyz"], environment: env, directory: "/")
      #expect(r.status == 0, "\(r.output)")
      let f = try run("/usr/bin/python3.11", [build.out + "/rtc_test.pyz", "--force-failure"], environment: env)
      #expect(f.status == 1)
    }

    @Test func secondNinjaHasNoWorkToDo() throws {
      let r = try build.ninja()
      #expect(r.status == 0)
      let again = try build.ninja()
      #expect(again.stdout.contains("ninja: no work to do."), "\(again.stdout)")
    }

    @Test func depfileOnlyInputsRerunTheRightActions() throws {
      let embed = "//testdata/rtc_test:rtc_test_embed"
      let probe = "//testdata/stem_probe:stem_probe"
      _ = try build.ninja()

      // A stdlib file of the bundled runtime: only make-archive read it.
      let stdlibFile = build.runtime + "/lib/python3.11/encodings/aliases.py"
      try bumpMtime(stdlibFile)
      var r = try build.ninja()
      #expect(r.status == 0, "\(r.output)")
      // The runtime layer re-archives once for every bundle, and both pyz
      // actions rerun (the runtime that compiles their bytecode imports
      // encodings at start); restat stops it there.
      let pyzs: Set = ["//testdata/rtc_test:rtc_test_pyz", probe + "_pyz"]
      #expect(E2EBuild.actions(r) == pyzs.union([E2EBuild.runtime + "_archive"]), "\(r.stdout)")
      #expect(try build.ninja().stdout.contains("ninja: no work to do."))

      // Its content this time: the runtime layer changes and is checked
      // once, so every bundle on it re-merges, is checked (against the new
      // record) and fused again. Their collect actions rerun too (the
      // runtime is a GN dep of theirs) and change nothing.
      try writeText(readText(stdlibFile) + "\n# edited by the test\n", to: stdlibFile)
      try bumpMtime(stdlibFile)
      r = try build.ninja()
      var expected = pyzs.union([E2EBuild.runtime + "_archive", E2EBuild.runtime + "_check"])
      for bundle in E2EBuild.bundles {
        expected.formUnion([bundle + "_embed_collect", bundle + "_embed_archive", bundle + "_check", bundle])
      }
      #expect(E2EBuild.actions(r) == expected, "\(r.stdout)")
      #expect(try build.ninja().stdout.contains("ninja: no work to do."))

      // A data file: collect and archive both list it.
      let data = build.src + "/testdata/fidl_ir/fuchsia.io.fidl.json"
      try bumpMtime(data)
      r = try build.ninja()
      #expect(E2EBuild.actions(r).isSuperset(of: [embed + "_collect", embed + "_archive"]), "\(r.stdout)")
      #expect(try build.ninja().stdout.contains("ninja: no work to do."))
    }

    @Test func aNewModuleInTheStdlibRerunsCollection() throws {
      _ = try build.ninja()
      let stdlib = build.runtime + "/lib/python3.11"
      try writeText("VALUE = 42\n", to: stdlib + "/lacewing_e2e_new_module.py")
      try bumpMtime(stdlib)
      let r = try build.ninja()
      #expect(r.status == 0, "\(r.output)")
      #expect(E2EBuild.actions(r).contains(E2EBuild.runtime + "_collect"), "\(r.stdout)")
      // It ships (as bytecode) in the runtime every bundle carries.
      let imported = try run(
        build.out + "/lacewing_python", ["-c", "import lacewing_e2e_new_module as m; print(m.VALUE, m.__file__)"],
        environment: environment(["LACEWING_CACHE_DIR": build.dir + "/cache-new-module"]))
      #expect(
        imported.status == 0 && imported.stdout.hasPrefix("42 ") && imported.stdout.contains(".pyc"),
        "\(imported.output)")
      #expect(try build.ninja().stdout.contains("ninja: no work to do."))
    }

    @Test func anUnbundledUnallowedLibraryFailsTheBuild() throws {
      let r = try build.ninja(["testdata/negative:stray_bundle"])
      #expect(r.status != 0)
      let text = r.output
      #expect(text.contains("//testdata/negative:stray_bundle"), "\(text)")
      #expect(text.contains("ext/stray_ext.so needs libstray.so"), "\(text)")
      #expect(text.contains("found on the build host at stray/libstray.so"), "\(text)")
      #expect(text.contains("fix: bundle the library"), "\(text)")
      #expect(!FileManager.default.fileExists(atPath: build.out + "/stray_bundle"))
    }

    @Test func everyGNFileIsFormatted() throws {
      let files = try run("git", ["-C", Repo.root, "ls-files", "*.gn", "*.gni", ".gn"]).stdout.split(separator: "\n")
      #expect(files.count >= 8)
      for file in files {
        let r = try run("gn", ["format", "--dry-run", Repo.root + "/" + file])
        #expect(r.status == 0, "gn format would change \(file)")
      }
    }
  }
}

extension E2E {
  /// ldd-allowlist-check resolves like the dynamic loader: on the extracted
  /// bundle, ld.so (through ldd, safe here: these are the build's own files)
  /// finds each library exactly where the check said it would.
  @Suite struct LoaderAgreementTests {
    @Test func theChecksResolutionIsWhatLddFinds() throws {
      let build = try E2EBuild.get()
      _ = try build.ninja()
      let dir = try makeTemporaryDirectory("ldd")
      defer { try? FileManager.default.removeItem(atPath: dir) }
      let r = try run(build.bundle, ["--echo-argv"], environment: environment(["LACEWING_CACHE_DIR": dir]))
      #expect(r.status == 0)
      // The runtime layer (python/) and the test's own layer have entries of their own.
      let entries = try FileManager.default.contentsOfDirectory(atPath: dir)
      let runtimeEntry = dir + "/" + (entries.first { $0.hasPrefix(BundleLayout.runtimeCacheKeyPrefix) } ?? "")
      let testEntry =
        dir + "/"
        + (entries.first {
          $0.hasPrefix(BundleLayout.cacheKeyPrefix) && !$0.hasPrefix(BundleLayout.runtimeCacheKeyPrefix)
        } ?? "")
      func extracted(_ path: String) -> String { (path.hasPrefix("python/") ? runtimeEntry : testEntry) + "/" + path }
      let stamp = readText(build.out + "/gen/testdata/rtc_test/rtc_test.hermeticity.txt")
      var checked = 0
      // What libc dlopens: the unwinder must be in the program's own load list.
      let unwinder = "dlopen by libc.so.6: \(AllowlistCheck.unwinder) "
      let preloads = stamp.split(separator: "\n").filter { $0.hasPrefix(unwinder) }
      #expect(preloads.count == 1, "\(stamp)")
      for line in preloads {
        let outcome = line[line.range(of: "=> ")!.upperBound...].components(separatedBy: ", loaded at start by ")
        #expect(outcome.count == 2, "\(line)")
        let ldd = try run("ldd", [extracted(outcome.last!)]).stdout
        let found = ldd.split(separator: "\n").first { $0.contains(AllowlistCheck.unwinder + " => ") }
          .map { String($0.split(separator: " ")[2]) }
        #expect(found.map(resolvedPath) == resolvedPath(extracted(outcome[0])), "\(ldd)")
      }
      for line in stamp.split(separator: "\n")
      where line.contains(" => ") && !line.hasPrefix("<stem>") && !line.hasPrefix("dlopen by ") {
        // "python/ext/fidl_codec.so: libfuchsia_controller_internal.so => python/lib/lib..."
        let parts = line.split(separator: " ")
        let elf = String(parts[0].dropLast())
        let library = String(parts[1])
        let target = String(parts[3])
        // The program interpreter is listed by path, not resolved by name.
        if library.hasPrefix("ld-linux") { continue }
        let ldd = try run("ldd", [extracted(elf)])
        let lddLine = ldd.stdout.split(separator: "\n").first {
          $0.trimmingCharacters(in: .whitespaces).hasPrefix(library + " ")
        }
        guard let lddLine, let arrow = lddLine.range(of: "=> ") else {
          Issue.record("ldd does not list \(library) for \(elf): \(ldd.stdout)")
          continue
        }
        let found = String(lddLine[arrow.upperBound...].prefix { $0 != " " })
        if target == "allowlisted" {
          #expect(!found.hasPrefix(dir), "\(elf): \(library) is allowlisted but ld.so took the bundle's \(found)")
        } else {
          #expect(
            resolvedPath(found) == resolvedPath(extracted(target)), "\(elf): \(library): ldd \(found), check \(target)")
        }
        checked += 1
      }
      #expect(checked > 50, "only \(checked) resolutions compared")
    }

    /// The same agreement in the bundle's own process, where ld.so searches
    /// the RPATHs of each library's load chain and the executable's (the
    /// interpreter every module is loaded into) before LD_LIBRARY_PATH, which
    /// names the host's copies here: the runtime-only bundle imports every
    /// lib-dynload module and the test's extension under LD_DEBUG, and each
    /// library ld.so searched for comes from where the stamp says (another
    /// of the bundle's ELFs may have loaded it first: ld.so searches for a
    /// name once, for the first ELF that needs it).
    @Test func theChecksResolutionIsWhatTheLoaderDoesInTheBundlesProcess() throws {
      let build = try E2EBuild.get()
      _ = try build.ninja()
      let dir = try makeTemporaryDirectory("ld-debug")
      defer { try? FileManager.default.removeItem(atPath: dir) }
      let cache = dir + "/cache"
      let script = """
        import importlib, os, sys
        dynload = next(p for p in sys.path if p.endswith("lib-dynload"))
        for name in sorted(os.listdir(dynload)):
            importlib.import_module(name.split(".")[0])
        import fidl_codec
        """
      let r = try run(
        build.out + "/lacewing_python", ["-c", script],
        environment: environment([
          "LACEWING_CACHE_DIR": cache, "LD_DEBUG": "files,libs", "LD_DEBUG_OUTPUT": dir + "/ld",
          "LD_LIBRARY_PATH": "/usr/lib/x86_64-linux-gnu:/lib/x86_64-linux-gnu",
        ]))
      try #require(r.status == 0, "\(r.output)")
      let entries = try FileManager.default.contentsOfDirectory(atPath: cache).map { resolvedPath(cache + "/" + $0) }
      /// The bundle path of an extracted file, nil outside the cache.
      func bundlePath(_ file: String) -> String? {
        let real = resolvedPath(file)
        return entries.lazy.compactMap { real.hasPrefix($0 + "/") ? String(real.dropFirst($0.count + 1)) : nil }.first
      }
      let stamp = readText(build.out + "/gen/testdata/suite/lacewing_python.hermeticity.txt")
      let logs = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix("ld.") }
      #expect(logs.count == 1, "\(logs)")
      var checked = 0
      for log in logs {
        // "file=NAME [0];  needed by ELF [0]", the "trying file=" lines of
        // the search, "file=NAME [0];  generating link map" when it is mapped.
        var needed: (name: String, by: String)?
        var tried: String?
        for line in readText(dir + "/" + log).split(separator: "\n") {
          let text = line.drop { $0 != "\t" }.dropFirst()
          if let range = text.range(of: " [0];  needed by ") {
            needed = (
              String(text.dropFirst("file=".count)[..<range.lowerBound]),
              String(text[range.upperBound...].prefix { $0 != " " })
            )
            tried = nil
          } else if text.hasPrefix("  trying file=") {
            tried = String(text.dropFirst("  trying file=".count))
          } else if let needed, text == "file=\(needed.name) [0];  generating link map" {
            defer { tried = nil }
            guard let elf = bundlePath(needed.by) else {
              Issue.record("\(needed.by), which needs \(needed.name), is not the bundle's")
              continue
            }
            let prefix = "\(elf): \(needed.name) => "
            guard let resolution = stamp.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) else {
              Issue.record("the stamp has no line for \(prefix)")
              continue
            }
            let outcome = resolution.dropFirst(prefix.count)
            let found = tried.flatMap(bundlePath)
            if outcome == "allowlisted" {
              #expect(found == nil, "\(elf): \(needed.name) is allowlisted but ld.so took the bundle's \(tried ?? "")")
            } else {
              // "path", "path (RPATH of elf)", or several joined by " or ".
              let candidates = outcome.components(separatedBy: " or ").map { String($0.prefix { $0 != " " }) }
              #expect(
                found.map(candidates.contains) == true,
                "\(elf): \(needed.name): ld.so \(tried ?? "?"), check \(outcome)")
            }
            checked += 1
          }
        }
      }
      #expect(checked >= 10, "only \(checked) resolutions compared")
    }

    /// The bundle's check takes the runtime layer from the runtime's record
    /// (never unpacking it), and its stamp is the one a check of the whole
    /// payload writes: every runtime ELF and finding is still listed.
    @Test func theStampFromTheRuntimesRecordIsTheWholePayloadsStamp() throws {
      let build = try E2EBuild.get()
      _ = try build.ninja()
      let rules = readText(build.out + "/toolchain.ninja").split(separator: "\n")
      let rule = try #require(rules.firstIndex { $0.hasPrefix("rule __testdata_rtc_test_rtc_test_check__") })
      #expect(rules[rule + 1].contains("--runtime-record gen/gn_templates/runtime.runtime_check.json"))
      let dir = try makeTemporaryDirectory("stamp")
      defer { try? FileManager.default.removeItem(atPath: dir) }
      for bundle in ["rtc_test", "e2e_suite"] {
        let stamp = readText(
          build.out + "/gen/testdata/\(bundle == "rtc_test" ? "rtc_test" : "suite")/\(bundle).hermeticity.txt")
        let payloadDir = build.out + "/obj/testdata/" + (bundle == "rtc_test" ? "rtc_test" : "suite")
        let whole = try run(
          build.tools + "/ldd-allowlist-check",
          [
            "--label", "//t:\(bundle)", "--stem", build.tools + "/lacewing-stem", "--payload",
            "\(payloadDir)/\(bundle)_embed.payload.zip", "--allowlist",
            build.src + "/gn_templates/default_allowlist.txt",
            "--max-glibc", "2.36", "--output", dir + "/\(bundle).txt",
          ])
        #expect(whole.status == 0, "\(whole.stderr)")
        #expect(stamp == readText(dir + "/\(bundle).txt"), "\(bundle)")
        #expect(stamp.contains("python/bin/python3.11: libc.so.6 => allowlisted"), "\(stamp)")
      }
    }
  }
}
