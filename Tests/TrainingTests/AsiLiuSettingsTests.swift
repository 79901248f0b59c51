import Foundation
import Persistence
import Testing
import Training

/// The options as a run config gives them (the config parser is the only reader of
/// `mechanism_options.asi_liu`; its key-path errors are tested in RunConfigTests).
private func settings(_ options: String) throws -> AsiLiuSettings {
    let text = #"{"mechanism": "asi-liu", "mechanism_options": {"asi_liu": \#(options)}}"#
    return try RunConfig(json: JSONValue(parsing: Data(text.utf8))).mechanismOptions.asiLiu
}

@Test func missingKeysTakeTheDocumentedDefaults() throws {
    #expect(try settings("{}") == AsiLiuSettings(tau: 1.0, threshold: 0.75, onFailure: .halt, testBudgetFraction: 0.5))
}

@Test func everyKeyIsReadAndWrittenBack() throws {
    let read = try settings(#"{"tau": 0.25, "threshold": 0.6, "on_failure": "skip", "test_budget_fraction": 0.4}"#)
    #expect(read == AsiLiuSettings(tau: 0.25, threshold: 0.6, onFailure: .skip, testBudgetFraction: 0.4))
    var config = RunConfig()
    config.mechanism = .asiLiu
    config.mechanismOptions.asiLiu = read
    let written = try #require(config.json.value(atKeyPath: "mechanism_options.asi_liu"))
    #expect(try settings(written.canonicalText()) == read)
}

@Test func validateNamesTheKeyPathOfTheFirstValueOutOfRange() {
    #expect(throws: AsiLiuError.invalidValue(keyPath: "asi_liu.tau", value: "-1.0", allowed: "a positive number")) {
        try AsiLiuSettings(tau: -1).validate()
    }
    #expect(throws: AsiLiuError.invalidValue(keyPath: "asi_liu.tau", value: "inf", allowed: "a positive number")) {
        try AsiLiuSettings(tau: .infinity).validate()
    }
    #expect(throws: AsiLiuError.invalidValue(keyPath: "x.threshold", value: "1.5", allowed: "a number in (0, 1]")) {
        try AsiLiuSettings(threshold: 1.5).validate(keyPath: "x")
    }
    #expect(throws: AsiLiuError.invalidValue(keyPath: "asi_liu.test_budget_fraction", value: "1.0", allowed: "a number in (0, 1)")) {
        try AsiLiuSettings(testBudgetFraction: 1).validate()
    }
    #expect(throws: Never.self) { try AsiLiuSettings().validate() }
}

@Test func errorMessagesSayWhatToChange() {
    let message = AsiLiuError.thresholdInfeasible(passThreshold: 8, margin: 30, minimumExpectedUsers: 66.2).localizedDescription
    #expect(message.contains("about 67 expected users"), "\(message)")
    #expect(message.contains("asi_liu.threshold"))
}
