import Foundation
import Testing
import TestSupport

@testable import Privacy

/// Huge counts are clean errors (no trap, no hang), and an
/// optional cache that cannot be used only warns.
@Suite("Bad input: privacy accounting")
struct PrivacyBadInputTests {
    @Test("steps beyond 10^7 are refused by every event builder and by calibration", arguments: [
        DPEvent.maximumSteps + 1, 1_000_000_000_000, 1_000_000_000_000_000, 1 << 62, Int.max,
    ])
    func stepsLimit(_ steps: Int) throws {
        #expect(throws: PrivacyError.stepsOutOfRange(steps)) { try DPEvent.poissonSubsampledGaussian(q: 0.01, sigma: 1, steps: steps) }
        #expect(throws: PrivacyError.stepsOutOfRange(steps)) { try DPEvent.groupOfRecords(k: 2, q: 0.01, sigma: 1, steps: steps) }
        let request = CalibrationRequest(samplingRate: 0.01, steps: steps, targetEpsilon: 1, delta: 1e-5, accountant: .rdp)
        #expect(throws: PrivacyError.stepsOutOfRange(steps)) { try NoiseCalibration().calibrate(request) }
        #expect(PrivacyError.stepsOutOfRange(steps).localizedDescription.contains("1...10000000"))
    }

    @Test("the largest allowed step count is accounted for quickly")
    func maximumSteps() throws {
        let event = try DPEvent.poissonSubsampledGaussian(q: 0.01, sigma: 1, steps: DPEvent.maximumSteps)
        #expect(try RDPAccountant().epsilon(for: event, delta: 1e-5).isFinite)
    }

    @Test("nested compositions whose counts multiply past Int are a clean error in both accountants")
    func nestedOverflow() throws {
        let step = DPEvent.poissonSampled(samplingProbability: 0.01, event: .gaussian(sigma: 1))
        let nested = DPEvent.selfComposed(event: .selfComposed(event: step, count: 1 << 40), count: 1 << 40)
        #expect(throws: PrivacyError.compositionTooLarge(count: 1 << 40)) { try PLDAccountant().epsilon(for: nested, delta: 1e-5) }
        #expect(throws: PrivacyError.compositionTooLarge(count: 1 << 40)) { try RDPAccountant().epsilon(for: nested, delta: 1e-5) }
        // Counts that fit in Int but overflow the PLD grid (count × grid index).
        let wide = DPEvent.selfComposed(event: step, count: Int.max / 2)
        #expect(throws: PrivacyError.self) { try PLDAccountant().epsilon(for: wide, delta: 1e-5) }
        // The same step in two parts whose counts add past Int.
        let twice = DPEvent.composed([.selfComposed(event: step, count: Int.max), .selfComposed(event: step, count: Int.max)])
        #expect(throws: PrivacyError.compositionTooLarge(count: Int.max)) { try PLDAccountant().epsilon(for: twice, delta: 1e-5) }
    }

    @Test("group sizes beyond 1000 are refused with the limit, not a rounding complaint", arguments: [1001, 1_000_000])
    func groupSizeLimit(_ k: Int) {
        #expect(throws: PrivacyError.groupSizeOutOfRange(k)) { try DPEvent.groupOfRecords(k: k, q: 0.01, sigma: 1, steps: 10) }
        #expect(PrivacyError.groupSizeOutOfRange(k).localizedDescription == "group size k = \(k) is outside 1...1000 (records per user)")
    }

    @Test("an unusable cache file only warns; the calibration still returns its result")
    func unusableCacheWarns() throws {
        let directory = try temporaryFolder("privacy-bad")
        defer { try? FileManager.default.removeItem(at: directory) }
        let cache = try CalibrationCache(directory: directory)
        let request = CalibrationRequest(samplingRate: 0.02, steps: 200, targetEpsilon: 2, delta: 1e-5, accountant: .rdp)
        // A folder where the cache file should be: it can be neither read nor replaced.
        try FileManager.default.createDirectory(at: try cache.fileURL(for: request), withIntermediateDirectories: false)
        var warnings: [PrivacyError] = []
        let result = try NoiseCalibration(cache: cache).calibrate(request) { warnings.append($0) }
        #expect(result == (try NoiseCalibration().calibrate(request)))
        #expect(warnings.count == 2, "one for the failed read, one for the failed write: \(warnings)")
        #expect(warnings.last == .cacheFailure(path: try cache.fileURL(for: request).path, reason: "is a folder, not a file"))
    }
}
