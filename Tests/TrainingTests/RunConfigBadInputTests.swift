import Foundation
import Testing

@testable import Training
import Persistence

/// Bad input for run configs: counts beyond their limits, duplicate keys, and errors that stay
/// one short line naming the key path.
@Suite("RunConfig: bad input")
struct RunConfigBadInputTests {
    func error(_ text: String) -> RunConfigError? {
        do {
            _ = try RunConfig(data: Data(text.utf8))
            return nil
        } catch {
            return error
        }
    }

    @Test("steps above 10^7 are refused with the limit", arguments: ["10000001", "9223372036854775807", "1e18"])
    func stepsLimit(_ steps: String) throws {
        let found = error(#"{"steps": \#(steps)}"#)
        guard case .invalidValue(let keyPath, let expected, _)? = found else {
            Issue.record("accepted steps \(steps): \(String(describing: found))")
            return
        }
        #expect(keyPath == "steps" && expected == "an integer in 1...10000000")
        #expect(try RunConfig(data: Data(#"{"steps": 10000000}"#.utf8)).steps == RunConfig.maximumSteps)
    }

    @Test("a duplicate key is an error naming its key path")
    func duplicateKeys() {
        #expect(error(#"{"k": 2, "k": 3}"#) == .notJSON(reason: #"duplicate key "k"; each key may appear once in an object (line 1, column 10)"#))
        guard case .notJSON(let reason)? = error(#"{"lora": {"rank": 4, "rank": 8}}"#) else {
            Issue.record("duplicate nested key accepted")
            return
        }
        #expect(reason.hasPrefix(#"duplicate key "lora.rank""#))
    }

    @Test("epsilon 1e999 is a short error, not a DecodingError dump")
    func hugeEpsilon() {
        let found = error(#"{"epsilon": 1e999}"#)
        #expect(found == .notJSON(reason: "number 1e999 is beyond the range of a double (about ±1.8e308) (line 1, column 13)"))
        #expect(found?.errorDescription?.contains("DecodingError") == false)
    }
}
