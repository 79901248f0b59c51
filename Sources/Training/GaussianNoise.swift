import LinearAlgebra
import Randomness

/// Adds `standardDeviation` · N(0, 1) to every element of `values`, element i getting the i-th
/// Gaussian of `rng`'s stream, and leaves `rng` exactly where the sequential loop
/// `for i in values.indices { values[i] += Float(standardDeviation * rng.nextGaussian()) }`
/// would. The draws are computed in fixed chunks spread over `workers` threads (each chunk
/// starts from a copy of `rng` advanced to its first index, `Philox.advance(blocks:)`), so the
/// result is bit-identical to that loop for every worker count. A generator with buffered
/// output (not block-aligned) takes the sequential loop.
func addGaussianNoise(to values: inout [Float], standardDeviation: Double, rng: inout Philox, workers: Int) {
    let count = values.count
    guard rng.isBlockAligned, workers > 1, count > gaussianNoiseChunk else {
        for i in 0..<count { values[i] += Float(standardDeviation * rng.nextGaussian()) }
        return
    }
    let start = rng
    let chunks = (count + gaussianNoiseChunk - 1) / gaussianNoiseChunk
    values.withUnsafeMutableBufferPointer { buffer in
        _ = parallelMap(chunks, workers: workers) { chunk, _ in
            let lower = chunk * gaussianNoiseChunk
            var generator = start
            generator.advance(blocks: UInt64(lower))
            for i in lower..<min(lower + gaussianNoiseChunk, count) {
                buffer[i] += Float(standardDeviation * generator.nextGaussian())
            }
        }
    }
    rng.advance(blocks: UInt64(count))
}

/// Elements per chunk of `addGaussianNoise` (a chunk's draws take about a millisecond).
let gaussianNoiseChunk = 1 << 15
