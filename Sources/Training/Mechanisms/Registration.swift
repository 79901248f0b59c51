/// The registration: every mechanism userdp knows, in the order configs, errors and tables
/// list them. A mechanism's name (`MechanismKind.allCases`, `MechanismKind(rawValue:)`) exists
/// only through this list.
extension MechanismKind {
    static let registered: [any Mechanism] = [
        NonprivateMechanism(), RecordMechanism(), GroupMechanism(), UserMechanism(), AsiLiuMechanism(),
    ]
}
