import ArgumentParser
import Training

/// The root command. Each subcommand lives in its own file and owns its flags; this file only
/// lists them.
struct UserDP: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "userdp",
        abstract: "User-level differential privacy for fine-tuning language models.",
        discussion: """
            Train one configured experiment (train), run a grid of them (sweep), account for \
            privacy (privacy), inspect user-level datasets (data), build base models \
            (tokenizer, pretrain, eval) and measure speed (bench).
            """,
        version: UserDPVersion.description,
        subcommands: [
            TrainCommand.self,
            SweepCommand.self,
            PrivacyCommand.self,
            DataCommand.self,
            TokenizerCommand.self,
            PretrainCommand.self,
            EvalCommand.self,
            BenchCommand.self,
        ]
    )
}

/// `userdp bench ...`: benchmarks, kept apart from the tests.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure speed: BLAS, model steps, DP steps, privacy accounting.",
        subcommands: [BenchGemmCommand.self, BenchStepCommand.self, BenchDPStepCommand.self, BenchPrivacyCommand.self]
    )
}
