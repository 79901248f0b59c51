import Foundation

/// A differentially private computation described as data, in the spirit of Google's
/// `dp_accounting` `DpEvent`.
///
/// A training run stores its composed event with its result so that ε can be recomputed later by
/// any ``Accountant``. Events are immutable values; equality and hashing are structural.
///
/// Conventions (add/remove adjacency throughout):
/// - Sensitivities are in units of the clipping norm C, and `sigma` is the noise multiplier, so the
///   noise standard deviation is σ·C.
/// - ``gaussian(sigma:)`` is the Gaussian mechanism with sensitivity 1.
/// - ``mixtureOfGaussians(sigma:sensitivities:probabilities:)``: on the dataset without the unit
///   the output is N(0, σ²); with it, the output is Σᵢ pᵢ·N(cᵢ, σ²) (Ganesh 2024, arXiv 2401.10294;
///   `dp_accounting`'s `MixtureOfGaussiansDpEvent`, arXiv 2310.15526).
/// - ``withFailureProbability(event:probability:)``: `event`'s guarantee except with a small
///   probability (in total variation); every accountant adds (1 + e^ε)·probability to δ(ε)
///   (see ``separatingFailureProbability()`` for how it composes).
/// - ``groupPrivacy(event:groupSize:conversion:)``: `event`'s guarantee for one unit, converted
///   to groups of k units (a user who owns k records) by a group-privacy argument. It describes
///   a whole run's guarantee, so it is the outermost event (or under
///   ``withFailureProbability(event:probability:)`` or another ``groupPrivacy(event:groupSize:conversion:)``),
///   never inside a composition or a Poisson sample.
///
/// The JSON encoding is stable (a `kind` discriminator plus named fields in snake_case; encode
/// with `.sortedKeys` for byte-stable files, as ``DPEvent/canonicalJSON()`` does); see
/// docs/PRIVACY.md. Decoding also reads the camelCase field names (`samplingProbability`,
/// `groupSize`) that earlier versions wrote, as the same event.
/// New kinds (Laplace, a fixed (ε, δ) guarantee, ...) can be added as new cases with new `kind`
/// strings without changing the encoding of the existing ones.
public indirect enum DPEvent: Hashable, Sendable {
    /// The Gaussian mechanism with sensitivity 1 and noise multiplier `sigma` (> 0).
    case gaussian(sigma: Double)
    /// `event` applied to a Poisson sample: each unit is included independently with
    /// probability `samplingProbability` in (0, 1].
    case poissonSampled(samplingProbability: Double, event: DPEvent)
    /// `event` run `count` (≥ 0) times with independent randomness (adaptive composition).
    case selfComposed(event: DPEvent, count: Int)
    /// The events run one after another (adaptive composition), in order.
    case composed([DPEvent])
    /// The mixture-of-Gaussians mechanism: sensitivity cᵢ ≥ 0 with probability pᵢ (Σ pᵢ = 1).
    case mixtureOfGaussians(sigma: Double, sensitivities: [Double], probabilities: [Double])
    /// A computation without any privacy guarantee (ε = ∞ for every δ < 1).
    case nonPrivate
    /// A computation that does not touch private data (costs nothing).
    case noOp
    /// `event` up to a failure probability: on each side of every neighbouring pair, the
    /// mechanism's output distribution is within total variation distance `probability` (in
    /// [0, 1)) of a distribution such that the pair is dominated by `event`.
    ///
    /// Consequence, for every ε: δ(ε) ≤ δ_event(ε) + (1 + e^ε)·`probability`. Proof: with P, Q
    /// the pair, P̃, Q̃ the nearby pair dominated by `event` and a = `probability`, for every
    /// output set S, P(S) ≤ P̃(S) + a ≤ e^ε·Q̃(S) + δ_event(ε) + a ≤ e^ε·(Q(S) + a) + δ_event(ε) + a.
    /// The argument uses only the (ε, δ) guarantee of the dominated pair, so it holds on top of
    /// any accountant's curve for `event` (a valid upper bound, not tight). Asi & Liu's
    /// concentration test is the example in userdp: it passes on a bad batch with probability
    /// at most `probability` (docs/ASI_LIU.md).
    case withFailureProbability(event: DPEvent, probability: Double)
    /// The guarantee for groups of `groupSize` (≥ 1) units that `conversion` derives from
    /// `event`'s guarantee for one unit: neighbouring datasets differ by k units instead of one.
    ///
    /// Group Privacy with `mechanism_options.group.accounting = "lemma"` stores the record-level
    /// DP-SGD event inside this case with k = records per user, so the stored event is the
    /// user-level guarantee and every accountant re-accounts it as such (the tight alternative
    /// is the mixture event of ``groupOfRecords(k:q:sigma:steps:)``). With k = 1 it is `event`
    /// itself. See ``GroupPrivacyConversion`` for the conversion's formula and its limits.
    case groupPrivacy(event: DPEvent, groupSize: Int, conversion: GroupPrivacyConversion)

    /// The event's kind as it appears in JSON (`"gaussian"`, `"poissonSampled"`, ...).
    public var kind: String {
        switch self {
        case .gaussian: return "gaussian"
        case .poissonSampled: return "poissonSampled"
        case .selfComposed: return "selfComposed"
        case .composed: return "composed"
        case .mixtureOfGaussians: return "mixtureOfGaussians"
        case .nonPrivate: return "nonPrivate"
        case .noOp: return "noOp"
        case .withFailureProbability: return "withFailureProbability"
        case .groupPrivacy: return "groupPrivacy"
        }
    }

    /// Checks every parameter of the event (recursively) and throws the first violation.
    ///
    /// Mixture probabilities must be ≥ 0 and sum to 1 within 1e-9; sensitivities must be finite
    /// and ≥ 0 (the privacy loss is then monotone in the output, which the PLD construction uses).
    /// A failure probability must be finite and in [0, 1). A group size must be ≥ 1, and a
    /// ``groupPrivacy(event:groupSize:conversion:)`` must not sit inside a composition or a
    /// Poisson sample (the conversion applies to a whole guarantee, not to one step of it).
    public func validate() throws {
        try validate(enclosingComposition: nil)
    }

    /// ``validate()`` with the kind of the nearest enclosing `poissonSampled`, `selfComposed` or
    /// `composed` event, if any.
    private func validate(enclosingComposition: String?) throws {
        switch self {
        case .gaussian(let sigma):
            try validateSigma(sigma)
        case .poissonSampled(let q, let event):
            guard q > 0, q <= 1 else { throw PrivacyError.samplingProbabilityOutOfRange(q) }
            try event.validate(enclosingComposition: kind)
        case .selfComposed(let event, let count):
            guard count >= 0 else { throw PrivacyError.compositionCountOutOfRange(count) }
            try event.validate(enclosingComposition: kind)
        case .composed(let events):
            for event in events { try event.validate(enclosingComposition: kind) }
        case .mixtureOfGaussians(let sigma, let sensitivities, let probabilities):
            try validateSigma(sigma)
            guard !sensitivities.isEmpty else { throw PrivacyError.invalidMixture(reason: "no sensitivities") }
            guard sensitivities.count == probabilities.count else {
                throw PrivacyError.invalidMixture(
                    reason: "\(sensitivities.count) sensitivities but \(probabilities.count) probabilities")
            }
            if let bad = sensitivities.first(where: { !($0 >= 0 && $0.isFinite) }) {
                throw PrivacyError.invalidMixture(reason: "sensitivity \(bad) is not a finite number >= 0")
            }
            if let bad = probabilities.first(where: { !($0 >= 0 && $0 <= 1) }) {
                throw PrivacyError.invalidMixture(reason: "probability \(bad) is outside [0, 1]")
            }
            let total = probabilities.reduce(0, +)
            guard abs(total - 1) <= 1e-9 else {
                throw PrivacyError.invalidMixture(reason: "probabilities sum to \(total), not 1")
            }
        case .withFailureProbability(let event, let probability):
            guard probability >= 0, probability < 1 else { throw PrivacyError.failureProbabilityOutOfRange(probability) }
            try event.validate(enclosingComposition: enclosingComposition)
        case .groupPrivacy(let event, let groupSize, _):
            if let enclosingComposition { throw PrivacyError.groupPrivacyInsideComposition(enclosing: enclosingComposition) }
            guard groupSize >= 1 else { throw PrivacyError.groupPrivacySizeOutOfRange(groupSize) }
            try event.validate(enclosingComposition: nil)
        case .nonPrivate, .noOp:
            break
        }
    }

    /// The event as canonical JSON: sorted keys, no whitespace. Equal events give equal bytes.
    public func canonicalJSON() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }
}

func validateSigma(_ sigma: Double) throws {
    guard sigma > 0, sigma.isFinite else { throw PrivacyError.nonPositiveSigma(sigma) }
}

extension DPEvent: Codable {
    private enum CodingKeys: String, CodingKey {
        case kind, sigma, event, count, events, sensitivities, probabilities, probability, conversion
        case samplingProbability = "sampling_probability", groupSize = "group_size"
        /// The spellings of earlier versions, still read (StoredKeys.swift).
        case legacySamplingProbability = "samplingProbability", legacyGroupSize = "groupSize"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let kind = try container.decode(String.self, forKey: .kind)
        switch kind {
        case "gaussian":
            self = .gaussian(sigma: try container.decode(Double.self, forKey: .sigma))
        case "poissonSampled":
            self = .poissonSampled(
                samplingProbability: try container.decode(Double.self, forKey: .samplingProbability, legacy: .legacySamplingProbability),
                event: try container.decode(DPEvent.self, forKey: .event))
        case "selfComposed":
            self = .selfComposed(
                event: try container.decode(DPEvent.self, forKey: .event),
                count: try container.decode(Int.self, forKey: .count))
        case "composed":
            self = .composed(try container.decode([DPEvent].self, forKey: .events))
        case "mixtureOfGaussians":
            self = .mixtureOfGaussians(
                sigma: try container.decode(Double.self, forKey: .sigma),
                sensitivities: try container.decode([Double].self, forKey: .sensitivities),
                probabilities: try container.decode([Double].self, forKey: .probabilities))
        case "nonPrivate":
            self = .nonPrivate
        case "noOp":
            self = .noOp
        case "withFailureProbability":
            self = .withFailureProbability(
                event: try container.decode(DPEvent.self, forKey: .event),
                probability: try container.decode(Double.self, forKey: .probability))
        case "groupPrivacy":
            self = .groupPrivacy(
                event: try container.decode(DPEvent.self, forKey: .event),
                groupSize: try container.decode(Int.self, forKey: .groupSize, legacy: .legacyGroupSize),
                conversion: try container.decode(GroupPrivacyConversion.self, forKey: .conversion))
        default:
            throw DecodingError.dataCorruptedError(
                forKey: .kind, in: container,
                debugDescription: "unknown DP event kind '\(kind)'; this build knows gaussian, poissonSampled, selfComposed, composed, mixtureOfGaussians, nonPrivate, noOp, withFailureProbability, groupPrivacy")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(kind, forKey: .kind)
        switch self {
        case .gaussian(let sigma):
            try container.encode(sigma, forKey: .sigma)
        case .poissonSampled(let q, let event):
            try container.encode(q, forKey: .samplingProbability)
            try container.encode(event, forKey: .event)
        case .selfComposed(let event, let count):
            try container.encode(event, forKey: .event)
            try container.encode(count, forKey: .count)
        case .composed(let events):
            try container.encode(events, forKey: .events)
        case .mixtureOfGaussians(let sigma, let sensitivities, let probabilities):
            try container.encode(sigma, forKey: .sigma)
            try container.encode(sensitivities, forKey: .sensitivities)
            try container.encode(probabilities, forKey: .probabilities)
        case .withFailureProbability(let event, let probability):
            try container.encode(event, forKey: .event)
            try container.encode(probability, forKey: .probability)
        case .groupPrivacy(let event, let groupSize, let conversion):
            try container.encode(event, forKey: .event)
            try container.encode(groupSize, forKey: .groupSize)
            try container.encode(conversion, forKey: .conversion)
        case .nonPrivate, .noOp:
            break
        }
    }
}
