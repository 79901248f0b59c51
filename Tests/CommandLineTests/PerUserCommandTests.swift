import Foundation
import Testing
import TestSupport

@Suite("userdp privacy per-user", .enabled(if: userdpExecutable != nil, "the userdp executable is not built beside the tests"))
struct PerUserCommandTests {
    /// Three users with 1, 2 and 40 records: the last is past the tight limit and gets the lemma,
    /// whose ε is infinite at these settings, and JSON still parses ("inf").
    @Test("per-user epsilon: one row per user in the CSV, epsilon grows with the record count, JSON with inf parses")
    func perUserReport() throws {
        let folder = try temporaryFolder("per-user")
        defer { try? FileManager.default.removeItem(at: folder) }
        var lines: [String] = []
        for (user, count) in [("a", 1), ("b", 2), ("c", 40)] {
            for index in 0..<count { lines.append(#"{"user": "\#(user)", "text": "record \#(index) of \#(user)"}"#) }
        }
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: folder.appendingPathComponent("users.jsonl"))
        let arguments = ["privacy", "per-user", "--dataset", "users.jsonl", "--q", "0.05", "--sigma", "1", "--steps", "50", "--delta", "1e-5", "--tight-limit", "4"]
        let outcome = try runUserdp(arguments + ["--csv", "per-user.csv", "--json"], in: folder, timeout: 120)
        #expect(outcome.status == 0, "\(outcome)")
        let report = try JSONSerialization.jsonObject(with: Data(outcome.standardOutput.utf8)) as! [String: Any]
        #expect(report["users"] as? Int == 3)
        let csv = try String(contentsOf: folder.appendingPathComponent("per-user.csv"), encoding: .utf8)
        let rows = csv.split(separator: "\n").dropFirst().map { $0.split(separator: ",") }
        #expect(rows.map { String($0[0]) } == ["a", "b", "c"] && rows.map { String($0[3]) } == ["tight", "tight", "lemma"])
        let epsilons = rows.map { Double(String($0[2])) ?? .infinity }
        #expect(epsilons[0] < epsilons[1] && epsilons[1] < epsilons[2], "\(epsilons)")
        // k = 1 mixture and the plain subsampled Gaussian agree to 1e-9 (docs/PRIVACY.md §4).
        #expect(abs(epsilons[0] - (report["user_wise_epsilon"] as! Double)) < 1e-9 * epsilons[0], "one record: the user-wise (same event) epsilon")
    }
}
