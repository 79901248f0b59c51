import CFFTW
import Foundation

/// Cyclic convolution powers through FFTW's real-to-complex transforms.
///
/// Why FFTW: a T-fold self-composition needs one forward transform per distinct mechanism, a
/// pointwise power, and one inverse transform, on lengths of 10⁴–10⁶; FFTW handles any length of
/// the form 2^a·3^b·5^c·7^d at close to the speed of a power of two, which lets the window hug the
/// distribution instead of doubling it. Plans are made with `FFTW_ESTIMATE`: no timing runs, so
/// the same length always gets the same plan and results are bit-for-bit reproducible.
enum FourierTransform {
    /// FFTW's planner is not thread-safe (`fftw_execute` is); every plan creation and destruction
    /// takes this lock.
    private static let plannerLock = NSLock()
    private static let estimateFlag: UInt32 = 1 << 6  // FFTW_ESTIMATE

    /// The cyclic convolution of each `inputs[j].values` with itself `inputs[j].power` times,
    /// all convolved together: ifft(Π fft(values_j)^power_j). Every `values` has the given
    /// `length`, which must be even. Powers are ≥ 1.
    static func cyclicConvolutionPower(_ inputs: [(values: [Double], power: Int)], length: Int) -> [Double] {
        precondition(length >= 2 && length % 2 == 0, "FFT length must be even")
        let spectrumCount = length / 2 + 1
        let real = fftw_alloc_real(length)!
        let complex = fftw_alloc_complex(spectrumCount)!
        defer {
            fftw_free(real)
            fftw_free(complex)
        }
        plannerLock.lock()
        let forward = fftw_plan_dft_r2c_1d(Int32(length), real, complex, estimateFlag)
        let backward = fftw_plan_dft_c2r_1d(Int32(length), complex, real, estimateFlag)
        plannerLock.unlock()
        defer {
            plannerLock.lock()
            fftw_destroy_plan(forward)
            fftw_destroy_plan(backward)
            plannerLock.unlock()
        }
        let spectrum = UnsafeMutableRawPointer(complex).bindMemory(to: Double.self, capacity: 2 * spectrumCount)
        var accumulator = [Double](repeating: 0, count: 2 * spectrumCount)
        for index in 0..<spectrumCount { accumulator[2 * index] = 1 }
        for (values, power) in inputs {
            precondition(values.count == length && power >= 1)
            values.withUnsafeBufferPointer { real.update(from: $0.baseAddress!, count: length) }
            fftw_execute(forward)
            accumulator.withUnsafeMutableBufferPointer { acc in
                for index in 0..<spectrumCount {
                    let (re, im) = complexPower(spectrum[2 * index], spectrum[2 * index + 1], power)
                    let accRe = acc[2 * index], accIm = acc[2 * index + 1]
                    acc[2 * index] = accRe * re - accIm * im
                    acc[2 * index + 1] = accRe * im + accIm * re
                }
            }
        }
        accumulator.withUnsafeBufferPointer { spectrum.update(from: $0.baseAddress!, count: 2 * spectrumCount) }
        fftw_execute(backward)
        let scale = 1 / Double(length)
        return (0..<length).map { real[$0] * scale }
    }

    /// (re + i·im)^power by binary exponentiation: about 2·log₂(power) complex products, relative
    /// error about power·2⁻⁵³ (the same order as any method on a number of modulus ≤ 1).
    @inline(__always)
    private static func complexPower(_ re: Double, _ im: Double, _ power: Int) -> (Double, Double) {
        var resultRe = 1.0, resultIm = 0.0
        var baseRe = re, baseIm = im
        var exponent = power
        while exponent > 0 {
            if exponent & 1 == 1 {
                (resultRe, resultIm) = (resultRe * baseRe - resultIm * baseIm, resultRe * baseIm + resultIm * baseRe)
            }
            exponent >>= 1
            if exponent > 0 { (baseRe, baseIm) = (baseRe * baseRe - baseIm * baseIm, 2 * baseRe * baseIm) }
        }
        return (resultRe, resultIm)
    }

    /// The smallest even length ≥ `minimum` whose only prime factors are 2, 3, 5 and 7.
    static func fastLength(atLeast minimum: Int) -> Int {
        var candidate = max(2, minimum)
        if candidate % 2 == 1 { candidate += 1 }
        while true {
            var rest = candidate / 2
            for prime in [2, 3, 5, 7] { while rest % prime == 0 { rest /= prime } }
            if rest == 1 { return candidate }
            candidate += 2
        }
    }
}
