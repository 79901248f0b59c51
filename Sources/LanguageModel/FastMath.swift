
// Vectorised elementwise math and row-parallel loops for the model's non-BLAS layers. On the
// two-core machines userdp targets, scalar libm `expf` and single-threaded loops cost as much
// wall time as the matrix products they sit between; these keep them a small fraction.

/// e^x for eight lanes: Cody–Waite range reduction x = k·ln2 + r, |r| ≤ ln2/2, a degree-6
/// Taylor polynomial for e^r, and 2^k assembled in the exponent bits. Relative error below
/// 3e-7 on [-87.3, 88.3]; inputs are clamped to that range, so very negative x gives ~1e-38
/// (not 0) and very large x gives ~2.2e38 (not ∞).
@inline(__always)
func exp8(_ x: SIMD8<Float>) -> SIMD8<Float> {
    // Masked replacement inlines; the generic pointwiseMin/Max did not.
    var c = x
    c.replace(with: SIMD8(repeating: 88.3), where: c .> 88.3)
    c.replace(with: SIMD8(repeating: -87.3), where: c .< -87.3)
    // Adding 1.5·2^23 rounds to an integer in the low mantissa bits (SSE2 has no vector round).
    let shifted = c * 1.442695040888963 + 12582912.0
    let k = shifted - 12582912.0
    let kBits = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- 0x4B40_0000
    let r = c - k * 0.693359375 + k * 2.12194440e-4  // ln 2 split in two for exactness
    var p = SIMD8<Float>(repeating: 1.0 / 720)
    p = p * r + 1.0 / 120
    p = p * r + 1.0 / 24
    p = p * r + 1.0 / 6
    p = p * r + 0.5
    p = p * r + 1
    p = p * r + 1
    return p * unsafeBitCast((kBits &+ 127) &<< 23, to: SIMD8<Float>.self)
}

/// Scalar e^x with the same accuracy as `exp8` (for loop tails, so results do not depend on
/// where a vector boundary falls).
@inline(__always)
func exp1(_ x: Float) -> Float { exp8(SIMD8(repeating: x))[0] }

@inline(__always)
func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always)
func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}

/// `p[i] ← e^(p[i] − shift)` for i < n; returns Σ of the new values.
@inline(__always)
func exponentiateShifted(_ p: UnsafeMutablePointer<Float>, _ n: Int, shift: Float) -> Float {
    var acc = SIMD8<Float>(repeating: 0)
    var i = 0
    let s = SIMD8<Float>(repeating: shift)
    while i + 8 <= n {
        let e = exp8(load8(p + i) - s)
        store8(e, p + i)
        acc += e
        i += 8
    }
    var total = acc.sum()
    while i < n {
        let e = exp1(p[i] - shift)
        p[i] = e
        total += e
        i += 1
    }
    return total
}

/// max of p[0..<n], n ≥ 1.
@inline(__always)
func vectorMax(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var i = 0
    var m: Float = p[0]
    if n >= 8 {
        var acc = load8(p)
        i = 8
        while i + 8 <= n {
            let v = load8(p + i)
            acc.replace(with: v, where: v .> acc)
            i += 8
        }
        m = acc.max()
    }
    while i < n { m = max(m, p[i]); i += 1 }
    return m
}
