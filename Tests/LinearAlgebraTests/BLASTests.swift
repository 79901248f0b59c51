import LinearAlgebra
import Randomness
import Testing

/// Deterministic test values in [-1, 1).
private func randomValues(_ count: Int, seed: UInt64) -> [Float] {
    var rng = Philox(seed: seed, stream: "blas-tests")
    return (0..<count).map { _ in Float(rng.nextOpenUnit() * 2 - 1) }
}

/// The oracle: `alpha · op(a) · op(b) + beta · c` with Double loops over explicitly indexed
/// storage, independent of BLAS and of `MatrixView`.
private func naiveGemm(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
    a: [Float], offsetA: Int, lda: Int, b: [Float], offsetB: Int, ldb: Int,
    beta: Float, c: [Float], offsetC: Int, ldc: Int
) -> [Float] {
    var out = c
    for i in 0..<m {
        for j in 0..<n {
            var sum = 0.0
            for p in 0..<k {
                let aij = transposeA ? a[offsetA + p * lda + i] : a[offsetA + i * lda + p]
                let bij = transposeB ? b[offsetB + j * ldb + p] : b[offsetB + p * ldb + j]
                sum += Double(aij) * Double(bij)
            }
            let index = offsetC + i * ldc + j
            out[index] = Float(Double(alpha) * sum + (beta == 0 ? 0 : Double(beta) * Double(c[index])))
        }
    }
    return out
}

private struct GemmCase: CustomStringConvertible, Sendable {
    var transposeA: Bool, transposeB: Bool
    var m: Int, n: Int, k: Int
    var padA = 0, padB = 0, padC = 0  // extra leading-dimension elements
    var offsetA = 0, offsetB = 0, offsetC = 0
    var alpha: Float = 1, beta: Float = 0
    var description: String {
        "tA=\(transposeA) tB=\(transposeB) m=\(m) n=\(n) k=\(k) pads=(\(padA),\(padB),\(padC)) offsets=(\(offsetA),\(offsetB),\(offsetC)) alpha=\(alpha) beta=\(beta)"
    }
}

private func gemmCases() -> [GemmCase] {
    var cases: [GemmCase] = []
    let shapes = [(1, 1, 1), (3, 5, 7), (17, 13, 29), (64, 1, 33), (1, 40, 9), (71, 67, 5), (130, 97, 65)]
    for tA in [false, true] {
        for tB in [false, true] {
            for (m, n, k) in shapes {
                cases.append(GemmCase(transposeA: tA, transposeB: tB, m: m, n: n, k: k))
                cases.append(GemmCase(transposeA: tA, transposeB: tB, m: m, n: n, k: k, padA: 3, padB: 5, padC: 2, offsetA: 7, offsetB: 1, offsetC: 4, alpha: -0.75, beta: 0.5))
            }
        }
    }
    return cases
}

@Suite("BLAS wrapper against naive loops")
struct BLASTests {
    @Test("sgemm matches a naive loop", arguments: gemmCases())
    fileprivate func gemmMatchesNaive(_ t: GemmCase) {
        // Stored shapes: op(A) is m×k, so A is stored k×m when transposed.
        let (aRows, aCols) = t.transposeA ? (t.k, t.m) : (t.m, t.k)
        let (bRows, bCols) = t.transposeB ? (t.n, t.k) : (t.k, t.n)
        let lda = aCols + t.padA, ldb = bCols + t.padB, ldc = t.n + t.padC
        let a = randomValues(t.offsetA + aRows * lda, seed: 1)
        let b = randomValues(t.offsetB + bRows * ldb, seed: 2)
        let c0 = randomValues(t.offsetC + t.m * ldc, seed: 3)
        let expected = naiveGemm(
            transposeA: t.transposeA, transposeB: t.transposeB, m: t.m, n: t.n, k: t.k, alpha: t.alpha,
            a: a, offsetA: t.offsetA, lda: lda, b: b, offsetB: t.offsetB, ldb: ldb,
            beta: t.beta, c: c0, offsetC: t.offsetC, ldc: ldc)
        var c = c0
        a.withUnsafeBufferPointer { ab in
            b.withUnsafeBufferPointer { bb in
                c.withUnsafeMutableBufferPointer { cb in
                    var av = MatrixView(ab, offset: t.offsetA, rows: aRows, columns: aCols, rowStride: lda)
                    var bv = MatrixView(bb, offset: t.offsetB, rows: bRows, columns: bCols, rowStride: ldb)
                    if t.transposeA { av = av.transposed }
                    if t.transposeB { bv = bv.transposed }
                    BLAS.gemm(av, bv, into: MutableMatrixView(cb, offset: t.offsetC, rows: t.m, columns: t.n, rowStride: ldc), alpha: t.alpha, beta: t.beta)
                }
            }
        }
        // float32 accumulation over k terms of size ≤ 1: error grows like k·ε.
        let tolerance = Float(t.k) * 4e-7 + 1e-6
        var maxError: Float = 0
        for i in 0..<c.count { maxError = max(maxError, abs(c[i] - expected[i])) }
        #expect(maxError <= tolerance, "max |error| \(maxError) > \(tolerance) for \(t)")
        // Padding between rows and before the offset must be untouched.
        for i in 0..<t.m {
            for j in t.n..<ldc { #expect(c[t.offsetC + i * ldc + j] == c0[t.offsetC + i * ldc + j]) }
        }
        for i in 0..<t.offsetC { #expect(c[i] == c0[i]) }
    }

    @Test("syrkLower matches a naive loop on the lower triangle and leaves the upper one alone", arguments: [(1, 1), (5, 3), (17, 29), (130, 65), (64, 0)])
    func syrkMatchesNaive(n: Int, k: Int) {
        for transposed in [false, true] {
            // Stored k × n (read transposed) or n × k, with padding and an offset.
            let (rows, cols) = transposed ? (k, n) : (n, k)
            let lda = cols + 3, ldc = n + 2, offsetA = 5, offsetC = 1
            let a = randomValues(offsetA + max(rows, 1) * lda, seed: 11)
            let c0 = randomValues(offsetC + n * ldc, seed: 12)
            var c = c0
            a.withUnsafeBufferPointer { ab in
                c.withUnsafeMutableBufferPointer { cb in
                    var view = MatrixView(ab, offset: offsetA, rows: rows, columns: cols, rowStride: lda)
                    if transposed { view = view.transposed }
                    BLAS.syrkLower(view, into: MutableMatrixView(cb, offset: offsetC, rows: n, columns: n, rowStride: ldc), alpha: -0.5, beta: 0.25)
                }
            }
            var maxError: Float = 0
            for i in 0..<n {
                for j in 0..<n {
                    let index = offsetC + i * ldc + j
                    guard j <= i else {
                        #expect(c[index] == c0[index], "upper triangle (\(i), \(j)) was written")
                        continue
                    }
                    var sum = 0.0
                    for p in 0..<k {
                        let aip = transposed ? a[offsetA + p * lda + i] : a[offsetA + i * lda + p]
                        let ajp = transposed ? a[offsetA + p * lda + j] : a[offsetA + j * lda + p]
                        sum += Double(aip) * Double(ajp)
                    }
                    maxError = max(maxError, abs(c[index] - Float(-0.5 * sum + 0.25 * Double(c0[index]))))
                }
            }
            // float32 accumulation over k terms of size ≤ 1: error grows like k·ε, as for gemm.
            let tolerance = Float(k) * 4e-7 + 1e-6
            #expect(maxError <= tolerance, "syrk n=\(n) k=\(k) transposed=\(transposed): max |error| \(maxError) > \(tolerance)")
        }
    }

    @Test("beta = 0 ignores NaN already in the output")
    func betaZeroOverwrites() {
        let a = randomValues(6, seed: 4), b = randomValues(6, seed: 5)
        var c = [Float](repeating: .nan, count: 4)
        a.withUnsafeBufferPointer { ab in
            b.withUnsafeBufferPointer { bb in
                c.withUnsafeMutableBufferPointer { cb in
                    BLAS.gemm(MatrixView(ab, rows: 2, columns: 3), MatrixView(bb, rows: 3, columns: 2), into: MutableMatrixView(cb, rows: 2, columns: 2))
                }
            }
        }
        let expected = naiveGemm(transposeA: false, transposeB: false, m: 2, n: 2, k: 3, alpha: 1, a: a, offsetA: 0, lda: 3, b: b, offsetB: 0, ldb: 2, beta: 0, c: [0, 0, 0, 0], offsetC: 0, ldc: 2)
        for i in 0..<4 { #expect(abs(c[i] - expected[i]) < 1e-6, "element \(i): \(c[i]) vs \(expected[i])") }
    }

    @Test("gemv matches a naive loop, both orientations")
    func gemvMatchesNaive() {
        let m = 13, n = 7, lda = 9
        let a = randomValues(m * lda, seed: 6)
        for transposed in [false, true] {
            let (rows, cols) = transposed ? (n, m) : (m, n)
            let x = randomValues(cols, seed: 7)
            let y0 = randomValues(rows, seed: 8)
            var y = y0
            a.withUnsafeBufferPointer { ab in
                x.withUnsafeBufferPointer { xb in
                    y.withUnsafeMutableBufferPointer { yb in
                        var view = MatrixView(ab, rows: m, columns: n, rowStride: lda)
                        if transposed { view = view.transposed }
                        BLAS.gemv(view, xb, into: yb, alpha: 2, beta: -1)
                    }
                }
            }
            var maxError: Float = 0
            for i in 0..<rows {
                var sum = 0.0
                for j in 0..<cols {
                    let aij = transposed ? a[j * lda + i] : a[i * lda + j]
                    sum += Double(aij) * Double(x[j])
                }
                maxError = max(maxError, abs(y[i] - Float(2 * sum - Double(y0[i]))))
            }
            #expect(maxError < 1e-5, "gemv transposed=\(transposed): max |error| \(maxError)")
        }
    }

    @Test("level-1 calls match naive loops")
    func levelOne() {
        let x = randomValues(1001, seed: 9), y0 = randomValues(1001, seed: 10)
        var dotExpected = 0.0, normExpected = 0.0
        for i in x.indices {
            dotExpected += Double(x[i]) * Double(y0[i])
            normExpected += Double(x[i]) * Double(x[i])
        }
        let dot = BLAS.dot(x, y0)
        #expect(abs(Double(dot) - dotExpected) < 1e-4, "dot \(dot) vs \(dotExpected)")
        let norm = BLAS.norm2(x)
        #expect(abs(Double(norm) - normExpected.squareRoot()) < 1e-4, "norm \(norm) vs \(normExpected.squareRoot())")
        var y = y0
        BLAS.axpy(-1.5, x, &y)
        var axpyError: Float = 0
        for i in x.indices { axpyError = max(axpyError, abs(y[i] - (y0[i] - 1.5 * x[i]))) }
        #expect(axpyError < 1e-6, "axpy max |error| \(axpyError)")
        var z = x
        BLAS.scale(&z, by: 0.25)
        #expect(zip(z, x).allSatisfy { $0 == $1 * 0.25 })
        #expect(BLAS.norm2([Float]()) == 0 && BLAS.dot([], []) == 0)
    }

    @Test("the OpenBLAS core name and thread count are reported")
    func environmentIsReported() {
        #expect(!BLAS.coreName.isEmpty && BLAS.coreName != "unknown")
        #expect(BLAS.threadCount >= 1)
    }
}
