import ArgumentParser

// Placeholder until the owning issue lands; replaced wholesale by that work.
struct BenchGemmCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gemm", abstract: "sgemm GFLOP/s for square sizes and the kernel in use.")
    func run() throws { throw ValidationError("'gemm' is not built yet") }
}
