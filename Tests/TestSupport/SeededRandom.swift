import Randomness

extension Philox {
    /// Uniform in `0..<bound` (`bound` ≥ 1), by the remainder of the next 64 bits: the same on
    /// every machine and toolchain (unlike `Int.random(in:using:)`, whose algorithm Swift does
    /// not promise), with a bias below 2⁻⁵⁰ for the small bounds tests use.
    public mutating func below(_ bound: Int) -> Int {
        precondition(bound >= 1, "below(\(bound)): the bound must be at least 1")
        return Int(next() % UInt64(bound))
    }
}
