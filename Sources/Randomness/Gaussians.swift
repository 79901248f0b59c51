// Bulk standard normal draws for DP noise: two draws per Philox block, Box–Muller's cosine and
// sine outputs for the block's two 53-bit uniforms (read as `nextGaussian()` reads them; its draw
// is the cosine one), four blocks at a time in SIMD lanes and with userdp's own logarithm, cosine
// and sine (fdlibm's polynomials: Sun Microsystems 1993, e_log.c, k_sin.c, k_cos.c) instead of
// the C library's. Why:
// - Speed: a private step of a 14M-parameter model draws 14M Gaussians; the scalar generic path
//   with libm's log and cos took as long as a fifth of the step, and one draw per block spent a
//   Philox block, a logarithm and a square root on every coordinate (Box–Muller's two outputs
//   are independent standard normals: Box and Muller 1958).
// - Reproducibility: plain IEEE double operations, no fused multiply-add, so every lane and
//   every machine gives the same bits (libm picks an FMA or a non-FMA variant by CPU).
// A draw agrees with libm's Box–Muller on the same uniforms to within a few units in the last
// place of a double; after rounding to float32 (as noise is added) the two differ, by one float
// ulp, only when the double lies that close to a float rounding boundary: about one draw in 10⁸.

extension Philox {
    /// The standard normal draw `index` draws after this generator's position, in the stream
    /// where block b carries draws 2b and 2b + 1: `√(−2·ln u₁)·cos(2π·u₂)` and
    /// `√(−2·ln u₁)·sin(2π·u₂)`, with u₁, u₂ the block's two open-interval uniforms (words 0–1
    /// and 2–3, as `nextOpenUnit()` reads them). Box–Muller's two outputs are independent
    /// standard normals, so one block serves two coordinates. The scalar twin of
    /// `addGaussians`, bit for bit; an even draw agrees with the `nextGaussian()` of its block.
    ///
    /// Precondition: `isBlockAligned`.
    public func gaussian(index: UInt64) -> Double {
        precondition(isBlockAligned, "Philox.gaussian(index:) needs a block-aligned generator")
        let c = counter(advancedBy: index >> 1)
        let parts = Philox.boxMullerParts(key: key, c, c, c, c)
        return parts.radiusSquared[0].squareRoot() * (index & 1 == 0 ? parts.cosine[0] : parts.sine[0])
    }

    /// Blocks that `count` draws starting at draw 0 occupy: ⌈count / 2⌉.
    public static func blocks(forGaussians count: Int) -> UInt64 { UInt64(count / 2 + count % 2) }

    /// Adds `Float(scale · gaussian(index: firstIndex + j))` to `values[j]` for every j, without
    /// moving the generator. Equal, bit for bit, to that scalar loop, and several times faster
    /// than drawing with `nextGaussian()`.
    ///
    /// Precondition: `isBlockAligned`.
    public func addGaussians(scale: Double, firstIndex: UInt64, to values: UnsafeMutableBufferPointer<Float>) {
        precondition(isBlockAligned, "Philox.addGaussians needs a block-aligned generator")
        guard let base = values.baseAddress, !values.isEmpty else { return }
        // Positions p relative to the first block's first draw: the values are p in [skip, end).
        let skip = Int(firstIndex & 1), end = skip + values.count
        let firstBlock = firstIndex >> 1, blockCount = (end + 1) / 2, tile = 128
        let first = counter(advancedBy: firstBlock)
        let firstLow = UInt64(first.0) | (UInt64(first.1) << 32)
        withUnsafeTemporaryAllocation(of: SIMD4<Double>.self, capacity: 3 * tile / 4 + tile / 2) { scratch in
            let radii = scratch.baseAddress!, cosines = radii + tile / 4, sines = cosines + tile / 4
            let draws = UnsafeMutableRawPointer(sines + tile / 4).assumingMemoryBound(to: Double.self)
            var tileStart = 0
            while tileStart < blockCount {
                let count = min(tile, blockCount - tileStart)
                for group in 0 ..< (count + 3) / 4 {
                    let offset = firstLow &+ UInt64(tileStart + 4 * group)
                    let parts: (radiusSquared: SIMD4<Double>, cosine: SIMD4<Double>, sine: SIMD4<Double>)
                    if !firstLow.addingReportingOverflow(UInt64(tileStart + 4 * group + 3)).overflow {
                        let (h0, l0) = (UInt32(truncatingIfNeeded: offset >> 32), UInt32(truncatingIfNeeded: offset))
                        let (h1, l1) = (UInt32(truncatingIfNeeded: (offset &+ 1) >> 32), UInt32(truncatingIfNeeded: offset &+ 1))
                        let (h2, l2) = (UInt32(truncatingIfNeeded: (offset &+ 2) >> 32), UInt32(truncatingIfNeeded: offset &+ 2))
                        let (h3, l3) = (UInt32(truncatingIfNeeded: (offset &+ 3) >> 32), UInt32(truncatingIfNeeded: offset &+ 3))
                        parts = Philox.boxMullerParts(
                            key: key, (l0, h0, first.2, first.3), (l1, h1, first.2, first.3), (l2, h2, first.2, first.3), (l3, h3, first.2, first.3))
                    } else {
                        // The low 64 bits have wrapped (after 2⁶⁴ blocks): the full carry.
                        let blocks = firstBlock &+ UInt64(tileStart + 4 * group)
                        parts = Philox.boxMullerParts(
                            key: key, counter(advancedBy: blocks), counter(advancedBy: blocks &+ 1), counter(advancedBy: blocks &+ 2),
                            counter(advancedBy: blocks &+ 3))
                    }
                    (radii[group], cosines[group], sines[group]) = parts
                }
                // The square roots one lane at a time: `squareRoot()` on a vector compiles to
                // libm calls that would keep the whole computation from vectorising.
                let radius = UnsafeRawPointer(radii).assumingMemoryBound(to: Double.self)
                let cosine = UnsafeRawPointer(cosines).assumingMemoryBound(to: Double.self)
                let sine = UnsafeRawPointer(sines).assumingMemoryBound(to: Double.self)
                for b in 0..<count {
                    let r = radius[b].squareRoot()
                    draws[2 * b] = r * cosine[b]
                    draws[2 * b + 1] = r * sine[b]
                }
                let lower = max(2 * tileStart, skip), upper = min(2 * (tileStart + count), end)
                let out = base - skip, tileDraws = draws - 2 * tileStart
                for p in lower..<upper { out[p] += Float(scale * tileDraws[p]) }
                tileStart += count
            }
        }
    }

    /// The counter of the block `blocks` after the current one (the 128-bit add of
    /// `advance(blocks:)`).
    func counter(advancedBy blocks: UInt64) -> (UInt32, UInt32, UInt32, UInt32) {
        var copy = self
        copy.advance(blocks: blocks)
        return copy.counter
    }

    /// Box–Muller's −2·ln u₁, cos(2π·u₂) and sin(2π·u₂) for four blocks, one per lane (their
    /// counters); the draws are `√(−2·ln u₁)·cos(2π·u₂)` and `√(−2·ln u₁)·sin(2π·u₂)`. The blocks
    /// come from the scalar `Philox.block` (four independent chains are faster than a vector
    /// version under SSE2), the floating-point part runs in vector lanes.
    @inline(__always)
    static func boxMullerParts(
        key: (UInt32, UInt32), _ counter0: (UInt32, UInt32, UInt32, UInt32), _ counter1: (UInt32, UInt32, UInt32, UInt32),
        _ counter2: (UInt32, UInt32, UInt32, UInt32), _ counter3: (UInt32, UInt32, UInt32, UInt32)
    ) -> (radiusSquared: SIMD4<Double>, cosine: SIMD4<Double>, sine: SIMD4<Double>) {
        // Whole vectors built from four scalars (writing single lanes goes through memory).
        let w0 = Philox.block(counter: counter0, key: key), w1 = Philox.block(counter: counter1, key: key)
        let w2 = Philox.block(counter: counter2, key: key), w3 = Philox.block(counter: counter3, key: key)
        // `next()` joins words 0 and 1 (then 2 and 3), the first word low.
        let a = SIMD4<UInt64>(joined(w0.0, w0.1), joined(w1.0, w1.1), joined(w2.0, w2.1), joined(w3.0, w3.1))
        let b = SIMD4<UInt64>(joined(w0.2, w0.3), joined(w1.2, w1.3), joined(w2.2, w2.3), joined(w3.2, w3.3))
        let u1 = (exactDouble(a &>> 11) + 0.5) * 0x1.0p-53
        let u2 = (exactDouble(b &>> 11) + 0.5) * 0x1.0p-53
        let (cosine, sine) = cosineAndSineOfTurns(u2)
        return (-2 * logarithm(u1), cosine, sine)
    }
}

@inline(__always)
private func joined(_ low: UInt32, _ high: UInt32) -> UInt64 { UInt64(low) | (UInt64(high) << 32) }

/// `Double(v)` for lanes below 2⁵³, exactly, without a 64-bit integer conversion (which SSE2
/// lacks): the high and low 26 bits each through the 2⁵² exponent trick.
@inline(__always)
private func exactDouble(_ v: SIMD4<UInt64>) -> SIMD4<Double> {
    let magic: UInt64 = 0x4330_0000_0000_0000  // 2⁵²
    let high = unsafeBitCast((v &>> 26) | magic, to: SIMD4<Double>.self) - 0x1.0p52
    let low = unsafeBitCast((v & 0x3FF_FFFF) | magic, to: SIMD4<Double>.self) - 0x1.0p52
    return high * 0x1.0p26 + low
}

/// Natural logarithm of positive normal doubles, fdlibm's e_log.c: x = 2ᵏ·(1 + f) with
/// 1 + f in [√2/2, √2), s = f/(2 + f), log(1 + f) = f − (f²/2 − s·(f²/2 + R(s²))) with R a
/// degree-14 minimax polynomial (error < 1 ulp).
@inline(__always)
private func logarithm(_ x: SIMD4<Double>) -> SIMD4<Double> {
    let ln2High = 6.93147180369123816490e-01, ln2Low = 1.90821492927058770002e-10
    let lg1 = 6.666666666666735130e-01, lg2 = 3.999999999940941908e-01, lg3 = 2.857142874366239149e-01
    let lg4 = 2.222219843214978396e-01, lg5 = 1.818357216161805012e-01, lg6 = 1.531383769920937332e-01
    let lg7 = 1.479819860511658591e-01
    let bits = unsafeBitCast(x, to: SIMD4<UInt64>.self)
    let mantissa = bits & 0x000F_FFFF_FFFF_FFFF
    // 0x100000 in the high word when the mantissa is at least about √2 (fdlibm's test).
    let i = ((mantissa &>> 32) &+ 0x95F64) & 0x10_0000
    let m = unsafeBitCast(mantissa | ((i ^ 0x3FF0_0000) &<< 32), to: SIMD4<Double>.self)
    // k = exponent − 1023 + (i ≠ 0), converted exactly through the 2⁵² trick.
    let biased = (bits &>> 52) &+ (i &>> 20)
    let k = unsafeBitCast(biased | 0x4330_0000_0000_0000, to: SIMD4<Double>.self) - (0x1.0p52 + 1023)
    let f = m - 1
    let halfSquare: SIMD4<Double> = 0.5 * f * f
    let s: SIMD4<Double> = f / (2 + f)
    let z = s * s, w = z * z
    let t1: SIMD4<Double> = w * (lg2 + w * (lg4 + w * lg6))
    let t2: SIMD4<Double> = z * (lg1 + w * (lg3 + w * (lg5 + w * lg7)))
    let r = t2 + t1
    let inner: SIMD4<Double> = s * (halfSquare + r) + k * ln2Low
    return k * ln2High - ((halfSquare - inner) - f)
}

/// cos(2π·u) and sin(2π·u) for u in [0, 1]: u = q/4 + r exactly with |r| ≤ 1/8, θ = 2π·r in
/// [−π/4, π/4], then ±cos θ or ±sin θ by quadrant q, with fdlibm's k_cos.c and k_sin.c kernels
/// (error < 1 ulp).
@inline(__always)
private func cosineAndSineOfTurns(_ u: SIMD4<Double>) -> (cosine: SIMD4<Double>, sine: SIMD4<Double>) {
    let shifted = u * 4 + 0x1.8p52  // rounds 4u to the nearest integer, kept in the low bits
    let quarter = shifted - 0x1.8p52
    let quadrant = unsafeBitCast(shifted, to: SIMD4<UInt64>.self) & 3
    let r = u - quarter * 0.25  // exact: both are multiples of 2⁻⁵⁴ and |r| ≤ 1/8
    let twoPiHigh = 6.28318530717958623200e+00, twoPiLow = 2.44929359829470635445e-16
    let theta: SIMD4<Double> = r * twoPiHigh + r * twoPiLow
    let z = theta * theta, w = z * z
    // k_cos.c: 1 − z/2 + z²·C(z), with the compensated 1 − z/2.
    let c1 = 4.16666666666666019037e-02, c2 = -1.38888888888741095749e-03, c3 = 2.48015872894767294178e-05
    let c4 = -2.75573143513906633035e-07, c5 = 2.08757232129817482790e-09, c6 = -1.13596475577881948265e-11
    let cosLow: SIMD4<Double> = z * (c1 + z * (c2 + z * c3))
    let cosHigh: SIMD4<Double> = w * w * (c4 + z * (c5 + z * c6))
    let cosR = cosLow + cosHigh
    let halfZ: SIMD4<Double> = 0.5 * z
    let oneMinus: SIMD4<Double> = 1 - halfZ
    let correction: SIMD4<Double> = ((1 - oneMinus) - halfZ) + z * cosR
    let cosine = oneMinus + correction
    // k_sin.c: θ + θ³·S(z).
    let s1 = -1.66666666666666324348e-01, s2 = 8.33333333332248946124e-03, s3 = -1.98412698298579493134e-04
    let s4 = 2.75573137070700676789e-06, s5 = -2.50507602534068634195e-08, s6 = 1.58969099521155010221e-10
    let sinLow: SIMD4<Double> = s2 + z * (s3 + z * s4)
    let sinHigh: SIMD4<Double> = z * w * (s5 + z * s6)
    let sinR = sinLow + sinHigh
    let v: SIMD4<Double> = z * theta
    let sine: SIMD4<Double> = theta + v * (s1 + z * sinR)
    // cos(2πu) by q = 0..3: cos θ, −sin θ, −cos θ, sin θ; sin(2πu): sin θ, cos θ, −sin θ, −cos θ.
    // As bit operations (lane selects compile to branches): the other kernel where q is odd,
    // the sign flipped where q is 1 or 2 (cosine) and where q is 2 or 3 (sine).
    let odd = 0 &- (quadrant & 1)
    let cosineBits = unsafeBitCast(cosine, to: SIMD4<UInt64>.self), sineBits = unsafeBitCast(sine, to: SIMD4<UInt64>.self)
    let forCosine = (cosineBits & ~odd) | (sineBits & odd)
    let forSine = (sineBits & ~odd) | (cosineBits & odd)
    let cosineSign = (((quadrant &+ 1) &>> 1) & 1) &<< 63
    let sineSign = ((quadrant &>> 1) & 1) &<< 63
    return (unsafeBitCast(forCosine ^ cosineSign, to: SIMD4<Double>.self), unsafeBitCast(forSine ^ sineSign, to: SIMD4<Double>.self))
}
