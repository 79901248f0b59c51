import Foundation
import Persistence
import Privacy

/// A mechanism's name: the value of the config's `mechanism` key (`"user"`, `"asi-liu"`), the
/// label of results and tables, and the handle of its ``Mechanism`` type.
///
/// Only the names in ``registered`` exist: `init(rawValue:)` refuses others, and ``allCases``
/// lists them in registration order (the order of error messages and `runsPerMechanism`). Each
/// mechanism's file declares its name as a static member (`MechanismKind.user`).
public struct MechanismKind: RawRepresentable, Hashable, Sendable, CaseIterable, Codable, CustomStringConvertible {
    /// The config spelling.
    public let rawValue: String

    /// The registered mechanism of this name; nil for any other string.
    public init?(rawValue: String) {
        guard MechanismKind.registered.contains(where: { $0.kind.rawValue == rawValue }) else { return nil }
        self.rawValue = rawValue
    }

    /// A name for a mechanism's own file to declare; it exists once the type is registered.
    init(declaring name: String) { rawValue = name }

    /// Every registered mechanism's name, in registration order.
    public static var allCases: [MechanismKind] { registered.map(\.kind) }

    public var description: String { rawValue }

    /// The mechanism this name stands for.
    var definition: any Mechanism {
        guard let mechanism = MechanismKind.registered.first(where: { $0.kind == self }) else {
            preconditionFailure("mechanism \"\(rawValue)\" is declared but not registered in MechanismKind.registered")
        }
        return mechanism
    }

    // MARK: What other modules ask of a mechanism

    /// Whether the mechanism spends a privacy budget (so ε and δ must be valid).
    public var isPrivate: Bool { definition.isPrivate }

    /// The unit its stored DP event (and reported ε) protects.
    public var eventUnit: PrivacyUnit { definition.eventUnit }

    /// Top-level config keys this mechanism never reads (for example ε for `nonprivate`, k for
    /// `record`, `clip_norm` for `asi-liu`): the keys of ``RunConfig/schema`` that only the
    /// mechanisms declaring them read, less those it declares. They are left out of the canonical
    /// form, so they never give one experiment two run ids.
    public var ignoredKeys: Set<String> {
        Set(RunConfig.schema.children(of: "").filter { $0.readers == .declaring }.map(\.name)).subtracting(definition.readKeys)
    }

    /// Whether the mechanism reads the value at a dotted key path (`epsilon`,
    /// `selection.order`, `mechanism_options.group.accounting`), by the schema's
    /// ``ConfigKey/Readers``. Keys it ignores resolve to `n/a` in sweeps and tables.
    public func reads(keyPath: String) -> Bool { RunConfig.schema.reads(keyPath, mechanism: definition) }

    /// One line on what a finished run's stored event guarantees (`userdp privacy epsilon
    /// --run`); `event` is the stored event as ``RunResult/privacyEvent()`` reads it.
    public func guarantee(of result: RunResult, event: DPEvent?) -> String {
        let steps = "q = \(result.samplingRate), sigma = \(result.noiseMultiplier), T = \(result.steps)"
        return definition.guarantee(of: result.config, event: event, steps: steps)
    }

    /// The ε a result recorded for its event's own unit: record-level for `record` runs (whose
    /// `epsilon` is the largest user's), the result's `epsilon` otherwise.
    public func recordedEventEpsilon(of result: RunResult) -> Double { definition.recordedEventEpsilon(of: result) }

    /// Settings beyond (ε, δ, q, T, accountant) that the calibration of `config` depends on, as
    /// words (`k=4 mixture` for `group`); empty for most mechanisms.
    public func calibrationDetails(of config: RunConfig) -> [String] { definition.calibrationDetails(of: config) }

    /// Problems with `config` that only this mechanism has (pre-flight), one message each.
    public func preflightProblems(of config: RunConfig) -> [String] { definition.preflightProblems(of: config) }
}
