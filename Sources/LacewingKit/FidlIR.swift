/// FIDL IR a test reaches through its GN deps: fidl_ir() targets carry
/// `fidl_ir_info` metadata (Fuchsia's key and shape), a bundle collects it
/// into a JSON list, and every file lands in one directory of the bundle, so
/// a test finds all of its IR through one environment variable.
public enum FidlIR {
  /// One fidl_ir_info entry: the library's name and its IR file, relative
  /// to root_build_dir.
  public struct Info: Codable, Equatable, Sendable {
    public var name: String
    public var ir: String

    public init(name: String, ir: String) {
      self.name = name
      self.ir = ir
    }
  }

  /// "SOURCE=DEST" data entries for the IR files of `list`, each at
  /// `dir`/<its file name>. The same file reached twice (through two paths
  /// of the graph) is carried once; two files of one name are refused,
  /// since the test could read only one of them.
  public static func dataEntries(list: String, dir: String) throws(LacewingError) -> [String] {
    let infos = try JSONFile.read([Info].self, list, what: "list of FIDL IR (fidl_ir_info metadata)")
    var byDest: [String: Info] = [:]
    for info in infos {
      let dest = dir + "/" + FS.basename(info.ir)
      if let other = byDest[dest], other.ir != info.ir {
        throw LacewingError(
          .badInput,
          "FIDL IR of \(other.name) (\(other.ir)) and of \(info.name) (\(info.ir)) would both land at \(dest) "
            + "(from \(list)); give one IR file another name")
      }
      byDest[dest] = info
    }
    return byDest.keys.sorted().map { byDest[$0]!.ir + "=" + $0 }
  }
}
