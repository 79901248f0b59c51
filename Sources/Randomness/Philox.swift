/// A counter-based pseudo-random generator: Philox4x32 with 10 rounds (Salmon, Moraes, Dror,
/// Shaw 2011, "Parallel random numbers: as easy as 1, 2, 3", SC'11).
///
/// Contract:
/// - The same `(seed, stream)` always yields the same sequence on every machine.
/// - Different `stream` labels give statistically independent sequences, so one run seed can
///   feed data shuffling, user sampling, selection and noise without their draws interfering
///   (adding a draw to one stream never shifts another).
/// - Philox passes TestU01's BigCrush and is the generator behind JAX, cuRAND and TensorFlow's
///   stateless random ops. It is *not* a cryptographic generator: seeded noise exists for the
///   reproducibility of research runs; a production deployment would draw its noise from the
///   operating system's CSPRNG instead.
public struct Philox: RandomNumberGenerator, Sendable {
    /// The 64-bit key (two 32-bit words), fixed for the life of the generator.
    public let key: (UInt32, UInt32)
    /// The 128-bit block counter of the next block (word 0 lowest).
    private(set) var counter: (UInt32, UInt32, UInt32, UInt32) = (0, 0, 0, 0)
    private var buffer: (UInt32, UInt32, UInt32, UInt32) = (0, 0, 0, 0)
    private var available = 0

    /// A generator keyed directly; the counter starts at zero.
    public init(key: (UInt32, UInt32)) {
        self.key = key
    }

    /// A generator for one named stream of a run seed. The key is a 64-bit hash (FNV-1a folded
    /// through SplitMix64) of the seed and the UTF-8 bytes of `stream`.
    public init(seed: UInt64, stream: String = "") {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in withUnsafeBytes(of: seed.littleEndian, Array.init) + Array(stream.utf8) {
            h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
        h = Philox.splitMix64(h)
        self.init(key: (UInt32(truncatingIfNeeded: h), UInt32(truncatingIfNeeded: h >> 32)))
    }

    /// A child generator for a sub-stream (for example one per user or per step), derived from
    /// this generator's key and `label` without consuming any of this generator's output.
    public func substream(_ label: UInt64) -> Philox {
        let k = UInt64(key.0) | (UInt64(key.1) << 32)
        let h = Philox.splitMix64(k ^ Philox.splitMix64(label &+ 0x9E37_79B9_7F4A_7C15))
        return Philox(key: (UInt32(truncatingIfNeeded: h), UInt32(truncatingIfNeeded: h >> 32)))
    }

    /// The Philox4x32-10 bijection of one 128-bit counter under a key.
    public static func block(counter c: (UInt32, UInt32, UInt32, UInt32), key k: (UInt32, UInt32))
        -> (UInt32, UInt32, UInt32, UInt32)
    {
        var (x0, x1, x2, x3) = c
        var (k0, k1) = k
        for round in 0..<10 {
            if round > 0 {
                k0 = k0 &+ 0x9E37_79B9
                k1 = k1 &+ 0xBB67_AE85
            }
            let p0 = UInt64(0xD251_1F53) * UInt64(x0)
            let p1 = UInt64(0xCD9E_8D57) * UInt64(x2)
            let hi0 = UInt32(truncatingIfNeeded: p0 >> 32), lo0 = UInt32(truncatingIfNeeded: p0)
            let hi1 = UInt32(truncatingIfNeeded: p1 >> 32), lo1 = UInt32(truncatingIfNeeded: p1)
            (x0, x1, x2, x3) = (hi1 ^ x1 ^ k0, lo1, hi0 ^ x3 ^ k1, lo0)
        }
        return (x0, x1, x2, x3)
    }

    static func splitMix64(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The next 32 random bits.
    public mutating func next32() -> UInt32 {
        if available == 0 {
            buffer = Philox.block(counter: counter, key: key)
            available = 4
            counter.0 &+= 1
            if counter.0 == 0 {
                counter.1 &+= 1
                if counter.1 == 0 { counter.2 &+= 1 }
            }
        }
        available -= 1
        switch available {
        case 3: return buffer.0
        case 2: return buffer.1
        case 1: return buffer.2
        default: return buffer.3
        }
    }

    public mutating func next() -> UInt64 {
        UInt64(next32()) | (UInt64(next32()) << 32)
    }

    /// True when no output of the current block is buffered: the next draw starts a new
    /// block. `nextGaussian()` consumes exactly one block (four 32-bit words), so a generator
    /// that only ever draws Gaussians stays aligned.
    public var isBlockAligned: Bool { available == 0 }

    /// Skips `blocks` blocks of output, exactly as drawing `4 · blocks` 32-bit words would
    /// (the 128-bit counter advances; the carry goes through all four words, where `next32`
    /// carries through three, which only differs after 2⁹⁶ blocks).
    ///
    /// With it, draws far ahead in one stream can be computed independently: the i-th
    /// Gaussian of an aligned generator is the first Gaussian of a copy advanced by i blocks.
    /// Precondition: `isBlockAligned`.
    public mutating func advance(blocks: UInt64) {
        precondition(available == 0, "Philox.advance(blocks:) needs a block-aligned generator")
        let low = UInt64(counter.0) | (UInt64(counter.1) << 32)
        let (sum, carry) = low.addingReportingOverflow(blocks)
        counter.0 = UInt32(truncatingIfNeeded: sum)
        counter.1 = UInt32(truncatingIfNeeded: sum >> 32)
        if carry {
            counter.2 &+= 1
            if counter.2 == 0 { counter.3 &+= 1 }
        }
    }
}

extension RandomNumberGenerator {
    /// A uniform double in the open interval (0, 1): 53 random bits, never exactly 0 or 1.
    public mutating func nextOpenUnit() -> Double {
        (Double(next() >> 11) + 0.5) * 0x1.0p-53
    }

    /// A standard normal draw (Box–Muller on two open-interval uniforms; one draw per call so
    /// the sequence does not depend on how calls are batched).
    public mutating func nextGaussian() -> Double {
        let u1 = nextOpenUnit()
        let u2 = nextOpenUnit()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }

    /// A Bernoulli(p) draw.
    public mutating func nextBernoulli(_ p: Double) -> Bool {
        nextOpenUnit() < p
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
