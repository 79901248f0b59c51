import Testing
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

/// The bulk draws (`gaussian(block:)`, `addGaussians`, userdp's own log and cos) agree with
/// `nextGaussian()` (libm's log and cos) to a few units in the last place of a double, over
/// draws that include the far tail and every quadrant of the cosine.
@Test func bulkGaussiansAgreeWithNextGaussian() {
    var drawn = Philox(seed: 9, stream: "bulk")
    let start = drawn
    var worst = 0.0
    for i in 0..<200_000 {
        let expected = drawn.nextGaussian(), bulk = start.gaussian(block: UInt64(i))
        worst = max(worst, abs(bulk - expected) / max(1, abs(expected)))
    }
    // Tolerance: each of log, cos and sqrt is within about 1 ulp (2⁻⁵² relative) in both
    // implementations, and libm's cos(2π·u) also rounds its argument 2π·u first, which costs up
    // to about 2⁻⁵² absolute where the cosine crosses zero, times √(−2 ln u₁) ≤ 8.6: a few
    // times 1e-15 relative to max(1, |z|).
    #expect(worst < 1e-14, "max |Δ| / max(1, |z|) = \(worst)")
}

/// `addGaussians` is the scalar loop of `gaussian(block:)`, bit for bit, for any start and any
/// length (groups of four blocks, partial tiles and tails).
@Test(arguments: [(0, 1), (3, 5), (1, 255), (7, 1031)] as [(UInt64, Int)])
func addGaussiansIsTheScalarLoop(first: UInt64, count: Int) {
    var rng = Philox(seed: 2, stream: "bulk")
    _ = rng.nextGaussian()
    let base = (0..<count).map { Float($0 % 5) - 2 }
    var bulk = base
    bulk.withUnsafeMutableBufferPointer { rng.addGaussians(scale: 0.3, firstBlock: first, to: $0) }
    let loop = (0..<count).map { base[$0] + Float(0.3 * rng.gaussian(block: first + UInt64($0))) }
    #expect(bulk == loop)
}

/// Across the low 64 bits of the counter wrapping, the bulk draws carry as `advance(blocks:)`.
@Test func addGaussiansCarriesAcrossTheCounterWrap() {
    let start = Philox(seed: 5, stream: "wrap")
    var bulk = [Float](repeating: 0, count: 9)
    let first = UInt64.max - 4
    bulk.withUnsafeMutableBufferPointer { start.addGaussians(scale: 1, firstBlock: first, to: $0) }
    for i in 0..<9 {
        var jumped = start
        jumped.advance(blocks: first &+ UInt64(i))
        #expect(bulk[i] == Float(jumped.gaussian(block: 0)), "block \(i)")
        #expect(abs(Double(bulk[i]) - jumped.nextGaussian()) < 1e-6, "block \(i)")
    }
}
