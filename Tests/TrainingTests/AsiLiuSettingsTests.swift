import Foundation
import Testing
import Training

/// The run config nests the options under "asi_liu"; decode through a wrapper so the coding
/// path, and hence the key path in errors, is the real one.
private struct ConfigFragment: Decodable {
    let asiLiu: AsiLiuSettings
    enum CodingKeys: String, CodingKey { case asiLiu = "asi_liu" }
}

private func decode(_ json: String) throws -> AsiLiuSettings {
    try JSONDecoder().decode(ConfigFragment.self, from: Data(json.utf8)).asiLiu
}

@Test func missingKeysTakeTheDocumentedDefaults() throws {
    let settings = try decode(#"{"asi_liu": {}}"#)
    #expect(settings == AsiLiuSettings(tau: 1.0, threshold: 0.75, onFailure: .halt, testBudgetFraction: 0.5))
}

@Test func everyKeyDecodesAndRoundTrips() throws {
    let settings = try decode(#"{"asi_liu": {"tau": 0.25, "threshold": 0.6, "on_failure": "skip", "test_budget_fraction": 0.4}}"#)
    #expect(settings == AsiLiuSettings(tau: 0.25, threshold: 0.6, onFailure: .skip, testBudgetFraction: 0.4))
    let encoded = try JSONEncoder().encode(settings)
    let object = try JSONSerialization.jsonObject(with: encoded) as? [String: Any]
    #expect(Set(object?.keys ?? [:].keys) == ["tau", "threshold", "on_failure", "test_budget_fraction"])
    #expect(try JSONDecoder().decode(AsiLiuSettings.self, from: encoded) == settings)
}

@Test func badSettingsNameTheKeyPath() {
    #expect(throws: AsiLiuError.unknownKey(keyPath: "asi_liu.radius")) {
        try decode(#"{"asi_liu": {"radius": 1}}"#)
    }
    #expect(throws: AsiLiuError.wrongType(keyPath: "asi_liu", expected: "an object")) {
        try decode(#"{"asi_liu": 0.5}"#)
    }
    #expect(throws: AsiLiuError.wrongType(keyPath: "asi_liu.tau", expected: "a number")) {
        try decode(#"{"asi_liu": {"tau": "big"}}"#)
    }
    #expect(throws: AsiLiuError.invalidValue(keyPath: "asi_liu.on_failure", value: "retry", allowed: "\"halt\" or \"skip\"")) {
        try decode(#"{"asi_liu": {"on_failure": "retry"}}"#)
    }
    #expect(throws: AsiLiuError.invalidValue(keyPath: "asi_liu.tau", value: "-1.0", allowed: "a finite number > 0")) {
        try decode(#"{"asi_liu": {"tau": -1}}"#)
    }
    #expect(throws: AsiLiuError.invalidValue(keyPath: "asi_liu.test_budget_fraction", value: "1.0", allowed: "a number in (0, 1)")) {
        try decode(#"{"asi_liu": {"test_budget_fraction": 1}}"#)
    }
}

@Test func errorMessagesSayWhatToChange() {
    let message = AsiLiuError.thresholdInfeasible(passThreshold: 8, margin: 30, minimumExpectedUsers: 66.2).localizedDescription
    #expect(message.contains("about 67 expected users"), "\(message)")
    #expect(AsiLiuError.unknownKey(keyPath: "asi_liu.radius").localizedDescription.contains("tau, threshold, on_failure"))
}
