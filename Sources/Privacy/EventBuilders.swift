import Foundation

/// What a neighbouring dataset adds or removes, as far as the accountant is concerned.
///
/// - ``record``: record-level DP-SGD; one record is the unit.
/// - ``user``: user-wise DP-SGD; users are Poisson-sampled and one user's clipped contribution
///   is the unit, so the event has the same form as the record-level one.
/// - ``groupOfRecords(_:)``: Group Privacy; a user owns exactly k records, each sampled
///   independently, so per step the user's records in the batch are Binomial(k, q).
public enum PrivacyUnitEvent: Hashable, Sendable {
    case record
    case user
    case groupOfRecords(Int)

    /// Records per privacy unit: 1 for ``record`` and ``user``, k for ``groupOfRecords(_:)``.
    public var groupSize: Int {
        if case .groupOfRecords(let k) = self { return k }
        return 1
    }

    /// The composed DP event of `steps` steps at sampling rate `q` and noise multiplier `sigma`.
    ///
    /// Record and user level give ``DPEvent/poissonSubsampledGaussian(q:sigma:steps:)``; a group
    /// of k records gives the tight ``DPEvent/groupOfRecords(k:q:sigma:steps:)``.
    public func event(q: Double, sigma: Double, steps: Int) throws -> DPEvent {
        switch self {
        case .record, .user:
            return try DPEvent.poissonSubsampledGaussian(q: q, sigma: sigma, steps: steps)
        case .groupOfRecords(let k):
            return try DPEvent.groupOfRecords(k: k, q: q, sigma: sigma, steps: steps)
        }
    }
}

extension PrivacyUnitEvent: Codable {
    private enum CodingKeys: String, CodingKey {
        case kind
        case groupSize = "group_size"
        /// The spelling of earlier versions, still read (StoredKeys.swift).
        case legacyGroupSize = "groupSize"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        switch try container.decode(String.self, forKey: .kind) {
        case "record": self = .record
        case "user": self = .user
        case "groupOfRecords": self = .groupOfRecords(try container.decode(Int.self, forKey: .groupSize, legacy: .legacyGroupSize))
        case let other:
            throw DecodingError.dataCorruptedError(
                forKey: .kind, in: container,
                debugDescription: "unknown privacy unit '\(other)'; expected record, user or groupOfRecords")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .record: try container.encode("record", forKey: .kind)
        case .user: try container.encode("user", forKey: .kind)
        case .groupOfRecords(let k):
            try container.encode("groupOfRecords", forKey: .kind)
            try container.encode(k, forKey: encoder.writesCamelCaseStoredKeys ? .legacyGroupSize : .groupSize)
        }
    }
}

extension DPEvent {
    /// The most steps T the event builders accept: 10⁷, far beyond any fine-tuning run, and low
    /// enough that every accountant's arithmetic (PLD grid indices × T, RDP orders × T) stays
    /// far from overflow and answers within seconds.
    public static let maximumSteps = 10_000_000

    /// The largest group size k (records per user) ``groupOfRecords(k:q:sigma:steps:)`` accepts:
    /// 1000. Beyond it the Binomial(k, q) probabilities lose accuracy in double precision (their
    /// sum drifts from 1 by more than 1e-9) and the mixture has more components than is useful.
    public static let maximumGroupSize = 1_000

    /// DP-SGD's event: `steps` compositions of the Gaussian mechanism (noise multiplier `sigma`,
    /// sensitivity 1) on a Poisson sample with rate `q` (Abadi et al. 2016).
    ///
    /// Used for record-level and user-level (user-wise) DP-SGD alike.
    /// - Throws: ``PrivacyError`` for q ∉ (0, 1], σ ≤ 0, steps ∉ 1...``maximumSteps``.
    public static func poissonSubsampledGaussian(q: Double, sigma: Double, steps: Int) throws -> DPEvent {
        try validateSamplingRate(q)
        try validateSigma(sigma)
        try validateSteps(steps)
        return .selfComposed(event: .poissonSampled(samplingProbability: q, event: .gaussian(sigma: sigma)), count: steps)
    }

    /// Tight user-level event of Group Privacy: a user owns `k` records, each Poisson-sampled with
    /// probability `q`, so per step the user's contribution has sensitivity j ∈ {0, ..., k} (in
    /// units of the clip norm) with probability Binomial(k, q)(j); `steps` such steps composed.
    ///
    /// This is the mixture-of-Gaussians mechanism of Ganesh (2024, arXiv 2401.10294). With k = 1
    /// it is exactly ``poissonSubsampledGaussian(q:sigma:steps:)``.
    /// - Throws: ``PrivacyError`` for k ∉ 1...``maximumGroupSize``, q ∉ (0, 1], σ ≤ 0,
    ///   steps ∉ 1...``maximumSteps``.
    public static func groupOfRecords(k: Int, q: Double, sigma: Double, steps: Int) throws -> DPEvent {
        try validateGroupSize(k)
        try validateSamplingRate(q)
        try validateSigma(sigma)
        try validateSteps(steps)
        let step = DPEvent.mixtureOfGaussians(
            sigma: sigma, sensitivities: (0...k).map(Double.init), probabilities: binomialProbabilities(k: k, q: q))
        return .selfComposed(event: step, count: steps)
    }
}

/// Throws unless `steps` is in 1...``DPEvent/maximumSteps``.
func validateSteps(_ steps: Int) throws {
    guard steps >= 1, steps <= DPEvent.maximumSteps else { throw PrivacyError.stepsOutOfRange(steps) }
}

/// Throws unless `k` is in 1...``DPEvent/maximumGroupSize``.
func validateGroupSize(_ k: Int) throws {
    guard k >= 1, k <= DPEvent.maximumGroupSize else { throw PrivacyError.groupSizeOutOfRange(k) }
}

func validateSamplingRate(_ q: Double) throws {
    guard q > 0, q <= 1 else { throw PrivacyError.samplingProbabilityOutOfRange(q) }
}

/// Binomial(k, q) probabilities of 0...k, computed in log space so tiny tails stay accurate.
func binomialProbabilities(k: Int, q: Double) -> [Double] {
    if q == 1 { return (0...k).map { $0 == k ? 1 : 0 } }
    let logQ = log(q), logOneMinusQ = log1p(-q)
    return (0...k).map { j in
        let logChoose = lgamma(Double(k + 1)) - lgamma(Double(j + 1)) - lgamma(Double(k - j + 1))
        return exp(logChoose + Double(j) * logQ + Double(k - j) * logOneMinusQ)
    }
}
