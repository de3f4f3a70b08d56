import FoundationEssentials

/// Just enough JSON to tell the shapes of lacewing's input lists apart;
/// FoundationEssentials has JSONDecoder but not JSONSerialization.
enum JSONValue: Decodable, Equatable {
  case object([String: JSONValue])
  case array([JSONValue])
  case string(String)
  case number(Double)
  case bool(Bool)
  case null

  init(from decoder: any Decoder) throws {
    let container = try decoder.singleValueContainer()
    if container.decodeNil() {
      self = .null
    } else if let value = try? container.decode(Bool.self) {
      self = .bool(value)
    } else if let value = try? container.decode(Double.self) {
      self = .number(value)
    } else if let value = try? container.decode(String.self) {
      self = .string(value)
    } else if let value = try? container.decode([JSONValue].self) {
      self = .array(value)
    } else {
      self = .object(try container.decode([String: JSONValue].self))
    }
  }
}

/// The files one of lacewing's JSON lists names, as written in the list
/// (relative to the build directory, or absolute).
///
/// The shape decides the format, not the file name, so a renamed list still
/// works: an object with `entries` (an embed or runtime manifest: each
/// entry's optional `source`), an array of objects (pyz sources: `source`),
/// or an array of strings (wheels, extensions).
public func referencedPaths(inInputList data: Data, named name: String) throws(LauncherError) -> [String] {
  let value: JSONValue
  do {
    value = try JSONDecoder().decode(JSONValue.self, from: data)
  } catch {
    throw .usage("input list \(name) is not valid JSON (\(error)); regenerate it or fix the --input-list argument")
  }
  func bad(_ why: String) -> LauncherError {
    .usage(
      "input list \(name) \(why); expected a manifest (object with \"entries\"), an array of {dest, source} objects, or an array of paths"
    )
  }
  switch value {
  case .object(let object):
    guard case .array(let entries)? = object["entries"] else { throw bad("is an object without an \"entries\" array") }
    var paths: [String] = []
    for entry in entries {
      guard case .object(let fields) = entry else { throw bad("has an entry that is not an object") }
      switch fields["source"] {
      case nil, .null?: continue  // inline content, nothing on disk
      case .string(let source)?: paths.append(source)
      default: throw bad("has an entry whose \"source\" is not a string")
      }
    }
    return paths
  case .array(let items):
    var paths: [String] = []
    for item in items {
      switch item {
      case .string(let path): paths.append(path)
      case .object(let fields):
        guard case .string(let source)? = fields["source"] else { throw bad("has an object without a string \"source\"") }
        paths.append(source)
      default: throw bad("has an item that is neither a path nor an object")
      }
    }
    return paths
  default:
    throw bad("is neither an object nor an array")
  }
}
