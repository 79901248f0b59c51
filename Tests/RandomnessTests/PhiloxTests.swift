import Testing
import Foundation
@testable import Randomness

/// Known-answer vectors of Random123 (kat_vectors, philox4x32 with 10 rounds).
@Test func philoxKnownAnswers() {
    let zero = Philox.block(counter: (0, 0, 0, 0), key: (0, 0))
    #expect([zero.0, zero.1, zero.2, zero.3] == [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8])
    let ones = Philox.block(
        counter: (0xffff_ffff, 0xffff_ffff, 0xffff_ffff, 0xffff_ffff), key: (0xffff_ffff, 0xffff_ffff))
    #expect([ones.0, ones.1, ones.2, ones.3] == [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd])
    let pi = Philox.block(counter: (0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344), key: (0xa409_3822, 0x299f_31d0))
    #expect([pi.0, pi.1, pi.2, pi.3] == [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1])
}

@Test func streamsAreReproducibleAndDistinct() {
    var a = Philox(seed: 7, stream: "noise")
    var b = Philox(seed: 7, stream: "noise")
    var c = Philox(seed: 7, stream: "sampling")
    let xa = (0..<8).map { _ in a.next() }
    let xb = (0..<8).map { _ in b.next() }
    let xc = (0..<8).map { _ in c.next() }
    #expect(xa == xb)
    #expect(xa != xc)
    #expect(Philox(seed: 7).substream(3).key != Philox(seed: 7).substream(4).key)
}

@Test func gaussianMomentsAreStandard() {
    var g = Philox(seed: 1, stream: "moments")
    let n = 200_000
    var sum = 0.0, sumSq = 0.0
    for _ in 0..<n {
        let x = g.nextGaussian()
        sum += x
        sumSq += x * x
    }
    let mean = sum / Double(n), variance = sumSq / Double(n) - mean * mean
    // Standard errors: 1/sqrt(n) ≈ 0.0022 for the mean, sqrt(2/n) ≈ 0.0032 for the variance.
    #expect(abs(mean) < 0.012, "mean \(mean)")
    #expect(abs(variance - 1) < 0.016, "variance \(variance)")
}

/// Skipping n blocks lands exactly where n Gaussians (one block each) would.
@Test(arguments: [0, 1, 7, 1000] as [UInt64])
func advanceMatchesDrawingGaussians(blocks: UInt64) {
    var drawn = Philox(seed: 11, stream: "noise")
    var skipped = drawn
    for _ in 0..<blocks { _ = drawn.nextGaussian() }
    #expect(drawn.isBlockAligned)
    skipped.advance(blocks: blocks)
    for _ in 0..<10 { #expect(skipped.nextGaussian() == drawn.nextGaussian()) }
}

/// Across the first counter word's wrap-around, skipping and drawing agree (the carry).
@Test func advanceCarriesLikeDrawing() {
    let start = Philox(seed: 3, stream: "carry")
    var drawn = start
    drawn.advance(blocks: UInt64(UInt32.max) - 1)
    let sequential = (0..<4).map { _ in drawn.nextGaussian() }  // blocks 2³²−2 … 2³²+1
    for (offset, value) in sequential.enumerated() {
        var jumped = start
        jumped.advance(blocks: UInt64(UInt32.max) - 1 + UInt64(offset))
        #expect(jumped.nextGaussian() == value, "block offset \(offset)")
    }
    var partial = start
    _ = partial.next32()
    #expect(!partial.isBlockAligned)
}

/// The bulk draws (`gaussian(index:)`, `addGaussians`, userdp's own log, cos and sin) agree with
/// Box–Muller through libm on the same block's uniforms: the even draw with `nextGaussian()`
/// (the cosine output), the odd one with the sine output; over draws that include the far tail
/// and every quadrant.
@Test func bulkGaussiansAgreeWithLibmBoxMuller() {
    var drawn = Philox(seed: 9, stream: "bulk")
    let start = drawn
    var worst = 0.0
    for block in 0..<100_000 as Range<UInt64> {
        var uniforms = drawn
        let u1 = uniforms.nextOpenUnit(), u2 = uniforms.nextOpenUnit()
        let cosine = drawn.nextGaussian()
        let sine = (-2 * log(u1)).squareRoot() * sin(2 * Double.pi * u2)
        for (expected, bulk) in [(cosine, start.gaussian(index: 2 * block)), (sine, start.gaussian(index: 2 * block + 1))] {
            worst = max(worst, abs(bulk - expected) / max(1, abs(expected)))
        }
    }
    // Tolerance: each of log, cos, sin and sqrt is within about 1 ulp (2⁻⁵² relative) in both
    // implementations, and libm's cos(2π·u) and sin(2π·u) also round their argument 2π·u first,
    // which costs up to about 2⁻⁵² absolute where the result crosses zero, times
    // √(−2 ln u₁) ≤ 8.6: a few times 1e-15 relative to max(1, |z|).
    #expect(worst < 1e-14, "max |Δ| / max(1, |z|) = \(worst)")
}

/// The two draws of a block are uncorrelated standard normals: over 200,000 blocks the sample
/// correlation of (cosine, sine) pairs, and of each draw with the next block's, is within
/// 4/√n ≈ 0.009 of zero (four standard errors), and each output's variance within 0.02 of 1.
@Test func aBlocksTwoDrawsAreUncorrelated() {
    let rng = Philox(seed: 3, stream: "pairs")
    let n = 200_000
    var values = [Float](repeating: 0, count: 2 * n + 2)
    values.withUnsafeMutableBufferPointer { rng.addGaussians(scale: 1, firstIndex: 0, to: $0) }
    func correlation(_ offset: Int, even: Bool) -> Double {
        var sum = 0.0
        for b in 0..<n { sum += Double(values[2 * b + (even ? 0 : 1)]) * Double(values[2 * b + offset]) }
        return sum / Double(n)
    }
    #expect(abs(correlation(1, even: true)) < 4 / Double(n).squareRoot(), "cos·sin within a block")
    #expect(abs(correlation(2, even: false)) < 4 / Double(n).squareRoot(), "sin·next cos")
    #expect(abs(correlation(0, even: true) - 1) < 0.02, "cosine variance")
    #expect(abs(correlation(1, even: false) - 1) < 0.02, "sine variance")
}

/// `addGaussians` is the scalar loop of `gaussian(index:)`, bit for bit, for any start (even or
/// odd) and any length (groups of four blocks, partial tiles and tails).
@Test(arguments: [(0, 1), (1, 1), (3, 5), (1, 255), (2, 256), (7, 1031), (6, 1030)] as [(UInt64, Int)])
func addGaussiansIsTheScalarLoop(first: UInt64, count: Int) {
    var rng = Philox(seed: 2, stream: "bulk")
    _ = rng.nextGaussian()
    let base = (0..<count).map { Float($0 % 5) - 2 }
    var bulk = base
    bulk.withUnsafeMutableBufferPointer { rng.addGaussians(scale: 0.3, firstIndex: first, to: $0) }
    let loop = (0..<count).map { base[$0] + Float(0.3 * rng.gaussian(index: first + UInt64($0))) }
    #expect(bulk == loop)
}

/// Across the low 64 bits of the counter wrapping, the bulk draws carry as `advance(blocks:)`.
@Test func addGaussiansCarriesAcrossTheCounterWrap() {
    var start = Philox(seed: 5, stream: "wrap")
    let low = UInt64(start.counter.0) | (UInt64(start.counter.1) << 32)
    start.advance(blocks: UInt64.max - low - 4)  // the low 64 bits wrap 5 blocks from here
    var bulk = [Float](repeating: 0, count: 19)
    bulk.withUnsafeMutableBufferPointer { start.addGaussians(scale: 1, firstIndex: 1, to: $0) }
    for i in 0..<19 {
        let draw = UInt64(i + 1)
        var jumped = start
        jumped.advance(blocks: draw / 2)
        #expect(bulk[i] == Float(jumped.gaussian(index: draw % 2)), "draw \(draw)")
        if draw % 2 == 0 { #expect(abs(Double(bulk[i]) - jumped.nextGaussian()) < 1e-6, "draw \(draw)") }
    }
}
