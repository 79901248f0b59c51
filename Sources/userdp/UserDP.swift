import ArgumentParser
import Foundation
import Persistence
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

/// Parses the command line and runs the command, printing every failure as one line.
///
/// ArgumentParser renders errors it does not know with `String(describing:)`, which for the
/// library's error enums, `DecodingError` or `NSError` is a dump of the value. Library errors
/// are `LocalizedError`s with messages that name the file, key or line; those messages are what
/// the user sees, on one line. ArgumentParser's own errors (usage, help, exit codes) pass through.
func runUserDP() {
    do {
        var command = try UserDP.parseAsRoot()
        do {
            try command.run()
        } catch {
            UserDP.exit(withError: plainError(error))
        }
    } catch {
        UserDP.exit(withError: error)
    }
}

/// `error` with a one-line, user-facing description (see ``runUserDP()``).
func plainError(_ error: any Error) -> any Error {
    switch error {
    case is ExitCode, is CleanExit, is ValidationError, is CommandFailure:
        return error
    case let decoding as DecodingError:
        return CommandFailure(message: oneLine(describe(decoding)))
    case let localized as LocalizedError where localized.errorDescription != nil:
        return CommandFailure(message: oneLine(localized.errorDescription!))
    default:
        let nsError = error as NSError
        if nsError.domain == NSCocoaErrorDomain || nsError.domain == NSPOSIXErrorDomain {
            let path = (nsError.userInfo[NSFilePathErrorKey] as? String) ?? (nsError.userInfo[NSURLErrorKey] as? URL)?.path
            return CommandFailure(message: oneLine((path.map { "\($0): " } ?? "") + FileProblem.describe(error)))
        }
        // ArgumentParser's own errors go back to it unchanged: `--help` can reach here, thrown
        // by the run() of its built-in help command.
        if String(reflecting: type(of: error)).hasPrefix("ArgumentParser.") { return error }
        return CommandFailure(message: oneLine(String(describing: error)))
    }
}

/// A decoding failure as "key.path: what was wrong", without the context dump.
private func describe(_ error: DecodingError) -> String {
    func path(_ context: DecodingError.Context) -> String {
        let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        return keys.isEmpty ? "" : "\(keys): "
    }
    switch error {
    case let .typeMismatch(type, context): return "\(path(context))expected a value of type \(type)"
    case let .valueNotFound(_, context): return "\(path(context))a value is missing"
    case let .keyNotFound(key, context): return "\(path(context))missing key \"\(key.stringValue)\""
    case let .dataCorrupted(context): return "\(path(context))\(context.debugDescription)"
    @unknown default: return "the input could not be decoded"
    }
}

/// `text` on one line, with control characters escaped and at most 2000 characters.
func oneLine(_ text: String) -> String {
    InputExcerpt.escaped(text.replacingOccurrences(of: "\n", with: " "), limit: 2000)
}
