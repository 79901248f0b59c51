import ArgumentParser
import Foundation
import LinearAlgebra

/// `userdp bench gemm`: sgemm GFLOP/s for square sizes and the OpenBLAS kernel in use.
struct BenchGemmCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gemm",
        abstract: "sgemm GFLOP/s for square sizes and the kernel in use.",
        discussion: """
            Times C = A·B on n × n float32 matrices (row-major, no transposes) and prints the best \
            and mean GFLOP/s per size, with the largest relative error of sampled entries against \
            a double-precision loop. To compare kernels, run it once with OPENBLAS_CORETYPE set \
            (for example Prescott) and once without.
            """
    )

    @Option(help: "Comma-separated square sizes.")
    var sizes: String = "64,128,256,512,1024"

    @Option(help: "BLAS threads (default: USERDP_BLAS_THREADS, OPENBLAS_NUM_THREADS or one per core).")
    var threads: Int?

    @Option(help: "Minimum timed seconds per size.")
    var seconds: Double = 0.5

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
        if seconds < 0 { throw ValidationError("--seconds must not be negative") }
        _ = try parsedSizes()
    }

    private func parsedSizes() throws -> [Int] {
        try sizes.split(separator: ",").map { text in
            guard let size = Int(text.trimmingCharacters(in: .whitespaces)), size >= 1 else {
                throw ValidationError("--sizes: '\(text)' is not a positive integer")
            }
            return size
        }
    }

    func run() throws {
        if let threads { BLASEnvironment.setThreadCount(threads) }
        print("CPU: \(CPUFeatures.current.modelName); \(BLASEnvironment.kernelChoice)")
        print("size  best GFLOP/s  mean GFLOP/s  reps  max rel. error")
        for size in try parsedSizes() {
            let result = GemmBenchmark.measure(size: size, minimumSeconds: seconds)
            print(String(format: "%4d  %12.1f  %12.1f  %4d  %.1e", size, result.bestGFLOPS, result.meanGFLOPS, result.repetitions, result.maxRelativeError))
        }
    }
}
