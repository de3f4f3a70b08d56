import Crypto
import FoundationEssentials

typealias Digest = Build_Bazel_Remote_Execution_V2_Digest

extension Digest {
  /// The REAPI digest of `bytes`: lowercase hex SHA-256 and the byte count.
  init(of bytes: some DataProtocol) {
    var hasher = SHA256()
    for region in bytes.regions { hasher.update(data: region) }
    self.init()
    self.hash = hasher.finalize().map { byte in
      let hex = Array("0123456789abcdef".utf8)
      return String(decoding: [hex[Int(byte >> 4)], hex[Int(byte & 15)]], as: UTF8.self)
    }.joined()
    self.sizeBytes = Int64(bytes.count)
  }

  /// `hash/size`, the form REAPI resource names and our log use.
  var text: String { "\(hash)/\(sizeBytes)" }
}

/// Where a blob's bytes come from when the server asks for them: files stay
/// on disk until uploaded, because tool binaries and archives reach 80 MB.
enum BlobSource: Sendable, Equatable {
  case file(String)
  case bytes(Data)

  func load() throws(LauncherError) -> Data {
    switch self {
    case .bytes(let data): return data
    case .file(let path):
      guard let data = FileManager.default.contents(atPath: path) else {
        throw .usage("cannot read input \(path) while uploading it; check that nothing deleted it during the build")
      }
      return data
    }
  }
}
