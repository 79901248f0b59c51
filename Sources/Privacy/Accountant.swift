import Foundation

/// The (ε, δ) trade-off of one event, prepared once and queried many times.
///
/// Both functions are upper bounds on the true curve of the event: for every δ, the event is
/// (``epsilon(delta:)``, δ)-DP, and for every ε it is (ε, ``delta(epsilon:)``)-DP.
public protocol PrivacyCurve: Sendable {
    /// The smallest ε (≥ 0) this accountant can certify at `delta`; `.infinity` if none.
    /// `delta` must be in (0, 1) (callers validate).
    func epsilon(delta: Double) -> Double
    /// The smallest δ in [0, 1] this accountant can certify at `epsilon` ≥ 0.
    func delta(epsilon: Double) -> Double
}

/// Turns a ``DPEvent`` into a privacy guarantee under add/remove adjacency.
///
/// Implementations: ``PLDAccountant`` (default, tight) and ``RDPAccountant`` (fast cross-check).
/// Both account for every event kind the same way, including a group-privacy conversion
/// (``DPEvent/groupPrivacy(event:groupSize:conversion:)``), which they apply to their own curve
/// of the inner event: a stored event means one guarantee, whoever re-accounts it.
public protocol Accountant: Sendable {
    /// A short name for messages and JSON (`"pld"`, `"rdp"`).
    var name: String { get }
    /// Prepares the event's curve; the expensive work (composition) happens here.
    /// - Throws: ``PrivacyError`` for invalid or unsupported events.
    func privacyCurve(for event: DPEvent) throws -> any PrivacyCurve
    /// The smallest ε certified for `event` at `delta` ∈ (0, 1); `.infinity` if none.
    func epsilon(for event: DPEvent, delta: Double) throws -> Double
    /// The smallest δ certified for `event` at `epsilon` ≥ 0.
    func delta(for event: DPEvent, epsilon: Double) throws -> Double
}

extension Accountant {
    public func epsilon(for event: DPEvent, delta: Double) throws -> Double {
        try validateDelta(delta)
        return try privacyCurve(for: event).epsilon(delta: delta)
    }

    public func delta(for event: DPEvent, epsilon: Double) throws -> Double {
        try validateEpsilon(epsilon)
        return try privacyCurve(for: event).delta(epsilon: epsilon)
    }
}

/// Which accountant to use, with its parameters, as data (stored in calibration requests and
/// results; part of the calibration cache key).
///
/// JSON: `{"kind":"pld","value_discretization":0.0001}`, `{"kind":"rdp"}`,
/// `{"kind":"groupLemma","base":{...}}` (earlier versions wrote `valueDiscretization`, still read).
public indirect enum AccountantKind: Hashable, Sendable {
    /// ``PLDAccountant`` with the given value-discretisation interval (default 1e-4).
    case pld(valueDiscretization: Double = PLDAccountant.defaultValueDiscretization)
    /// ``RDPAccountant`` with its default orders.
    case rdp
    /// User-level accounting of a group by the standard group-privacy lemma, accounted by `base`:
    /// a group of k records is described by the event
    /// ``DPEvent/groupPrivacy(event:groupSize:conversion:)`` over the record-level event, with
    /// conversion ``GroupPrivacyConversion/lemma`` (see ``event(for:q:sigma:steps:)``). The
    /// spelling (`groupLemma`) and the calibration cache keys are those of earlier versions.
    case groupLemma(base: AccountantKind)

    /// The default: PLD with discretisation 1e-4.
    public static let `default` = AccountantKind.pld()

    /// Parses the CLI spelling: `pld`, `rdp` or `group-lemma` (the lemma over PLD).
    public init?(cliName: String, valueDiscretization: Double = PLDAccountant.defaultValueDiscretization) {
        switch cliName {
        case "pld": self = .pld(valueDiscretization: valueDiscretization)
        case "rdp": self = .rdp
        case "group-lemma": self = .groupLemma(base: .pld(valueDiscretization: valueDiscretization))
        default: return nil
        }
    }

    /// The CLI and config spelling of the kind (`pld`, `rdp`, `group-lemma`), without its
    /// parameters: ``init(cliName:valueDiscretization:)`` reads it back.
    public var cliName: String {
        switch self {
        case .pld: return "pld"
        case .rdp: return "rdp"
        case .groupLemma: return "group-lemma"
        }
    }

    /// A human-readable description, e.g. "PLD (pessimistic, discretisation 0.0001)".
    public var summary: String {
        switch self {
        case .pld(let h): return "PLD (pessimistic connect-the-dots, discretisation \(h))"
        case .rdp: return "RDP (Mironov-Talwar-Zhang 2019, Balle et al. 2020 conversion)"
        case .groupLemma(let base): return "group-privacy lemma over \(base.summary)"
        }
    }

    /// The accountant that turns this kind's events into ε: PLD or RDP (for ``groupLemma(base:)``,
    /// `base`'s accountant: the lemma is in the event, not in the accountant).
    /// - Throws: ``PrivacyError/discretizationOutOfRange(_:)`` for a bad PLD interval.
    public func makeAccountant() throws -> any Accountant {
        switch self {
        case .pld(let h): return try PLDAccountant(valueDiscretization: h)
        case .rdp: return RDPAccountant()
        case .groupLemma(let base): return try base.makeAccountant()
        }
    }

    /// The user-level event of `steps` steps at rate `q` and noise multiplier `sigma` for `unit`:
    /// the tight event (``PrivacyUnitEvent/event(q:sigma:steps:)``) for PLD and RDP; for
    /// ``groupLemma(base:)`` and a group of k records, the record-level event converted by the
    /// group-privacy lemma (``DPEvent/groupPrivacyLemma(groupSize:of:)``), whose user-level ε
    /// every accountant gives. Record and user units are the same for every kind.
    public func event(for unit: PrivacyUnitEvent, q: Double, sigma: Double, steps: Int) throws -> DPEvent {
        guard case .groupLemma = self, case .groupOfRecords(let k) = unit else {
            return try unit.event(q: q, sigma: sigma, steps: steps)
        }
        return try DPEvent.groupPrivacyLemma(
            groupSize: k, of: try PrivacyUnitEvent.record.event(q: q, sigma: sigma, steps: steps))
    }
}

extension AccountantKind: Codable {
    private enum CodingKeys: String, CodingKey {
        case kind, base
        case valueDiscretization = "value_discretization"
        /// The spelling of earlier versions, still read (StoredKeys.swift).
        case legacyValueDiscretization = "valueDiscretization"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        switch try container.decode(String.self, forKey: .kind) {
        case "pld": self = .pld(valueDiscretization: try container.decode(Double.self, forKey: .valueDiscretization, legacy: .legacyValueDiscretization))
        case "rdp": self = .rdp
        case "groupLemma": self = .groupLemma(base: try container.decode(AccountantKind.self, forKey: .base))
        case let other:
            throw DecodingError.dataCorruptedError(
                forKey: .kind, in: container, debugDescription: "unknown accountant '\(other)'; expected pld, rdp or groupLemma")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .pld(let h):
            try container.encode("pld", forKey: .kind)
            try container.encode(h, forKey: encoder.writesCamelCaseStoredKeys ? .legacyValueDiscretization : .valueDiscretization)
        case .rdp:
            try container.encode("rdp", forKey: .kind)
        case .groupLemma(let base):
            try container.encode("groupLemma", forKey: .kind)
            try container.encode(base, forKey: .base)
        }
    }
}
