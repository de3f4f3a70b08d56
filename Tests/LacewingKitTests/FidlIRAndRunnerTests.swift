import Foundation
import LacewingTestSupport
import Testing

@testable import LacewingKit

@Suite struct FidlIRTests {
  func list(_ json: String) throws -> String {
    let dir = try makeTemporaryDirectory("fidl-ir")
    try writeText(json, to: dir + "/ir.json")
    return dir + "/ir.json"
  }

  /// The same file reached along two paths of the graph lands once, each
  /// under the directory by its file name, in a stable order.
  @Test func everyFileLandsOnceInTheDirectory() throws {
    let path = try list(
      """
      [{"name": "b", "ir": "../../x/b.fidl.json"}, {"name": "a", "ir": "../../y/a.fidl.json"},
       {"name": "b", "ir": "../../x/b.fidl.json"}]
      """)
    #expect(
      try FidlIR.dataEntries(list: path, dir: "fidl_ir") == [
        "../../y/a.fidl.json=fidl_ir/a.fidl.json", "../../x/b.fidl.json=fidl_ir/b.fidl.json",
      ])
  }

  @Test func twoFilesOfOneNameAreRefusedNamingBoth() throws {
    let path = try list(
      #"[{"name": "one", "ir": "x/ir.json"}, {"name": "two", "ir": "y/ir.json"}]"#)
    #expect(throws: LacewingError.self) { try FidlIR.dataEntries(list: path, dir: "fidl_ir") }
    do {
      _ = try FidlIR.dataEntries(list: path, dir: "fidl_ir")
    } catch {
      #expect(error.code == .badInput)
      #expect(error.message.contains("one (x/ir.json)") && error.message.contains("two (y/ir.json)"), "\(error)")
    }
  }
}

@Suite struct TestRunnerReportTests {
  /// A log may hold any bytes; the XML must still be well formed.
  @Test func junitEscapesMarkupAndControlCharacters() {
    #expect(TestRunner.escape("a<b>&\"c\u{1}\n") == "a&lt;b&gt;&amp;&quot;c\u{FFFD}\n")
  }
}
