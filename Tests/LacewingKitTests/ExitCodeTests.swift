import LacewingKit
import Testing

@Suite struct ExitCodeTests {
  /// Each kind of failure has a status of its own, none a success, the
  /// shells' usage status or ArgumentParser's (64).
  @Test func everyCodeHasAStatusOfItsOwn() {
    let statuses = LacewingError.Code.allCases.map(\.exitCode)
    #expect(Set(statuses).count == statuses.count)
    #expect(statuses.allSatisfy { ![0, 2, 64].contains($0) })
  }
}
