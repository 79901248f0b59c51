import LinearAlgebra
import Randomness

/// Adds `Float(standardDeviation · rng.gaussian(index: i))` to every element `values[i]` (the
/// i-th Gaussian of `rng`'s stream, two per Philox block: Randomness/Gaussians.swift) and
/// advances `rng` past the ⌈values.count / 2⌉ blocks they use. The draws are computed in fixed
/// chunks spread over `workers` threads, so the result is bit-identical to the sequential loop
/// for every worker count. A generator with buffered output (not block-aligned) takes the scalar loop of
/// `nextGaussian()` instead.
func addGaussianNoise(to values: inout [Float], standardDeviation: Double, rng: inout Philox, workers: Int) {
    let count = values.count
    guard rng.isBlockAligned else {
        for i in 0..<count { values[i] += Float(standardDeviation * rng.nextGaussian()) }
        return
    }
    let start = rng
    let chunks = (count + gaussianNoiseChunk - 1) / gaussianNoiseChunk
    values.withUnsafeMutableBufferPointer { buffer in
        _ = parallelMap(chunks, workers: workers) { chunk, _ in
            let lower = chunk * gaussianNoiseChunk
            let slice = UnsafeMutableBufferPointer(rebasing: buffer[lower ..< min(lower + gaussianNoiseChunk, count)])
            start.addGaussians(scale: standardDeviation, firstIndex: UInt64(lower), to: slice)
        }
    }
    rng.advance(blocks: Philox.blocks(forGaussians: count))
}

/// Elements per chunk of `addGaussianNoise` (a chunk's draws take a fraction of a millisecond).
let gaussianNoiseChunk = 1 << 15
