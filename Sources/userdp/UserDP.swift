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
            Train one configured experiment (train; its keys: config schema), run a grid of them \
            (sweep), account for privacy (privacy), inspect user-level datasets (data), build \
            base models (tokenizer, pretrain, eval) and measure speed (bench).
            """,
        version: UserDPVersion.description,
        subcommands: [
            TrainCommand.self,
            ConfigCommand.self,
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

// MARK: - Running, and the one way failures are printed

/// Parses the command line, runs the command and exits. Every failure leaves through here and
/// is printed one way: `Error: ` and one line (``plainError(_:)``), then for usage mistakes the
/// usage of the command at fault (exit 64); other failures exit 1 (or with the `ExitCode` a
/// command threw). An unknown subcommand gets "Did you mean ...?" (``UnknownSubcommand``).
/// `--help`, `--version` and ArgumentParser's own usage errors are ArgumentParser's.
func runUserDP(_ arguments: [String] = Array(CommandLine.arguments.dropFirst())) -> Never {
    var command: any ParsableCommand
    do {
        command = try UserDP.parseAsRoot(arguments)
    } catch {
        if let unknown = UnknownSubcommand(arguments: arguments, root: UserDP.self) {
            exitWithUsageError(unknown.message, command: unknown.parent)
        }
        UserDP.exit(withError: error)
    }
    do {
        try command.run()
    } catch let error as ValidationError {
        // Thrown by run() after parsing: show the usage of the command that ran, not the root's.
        exitWithUsageError(error.message, command: type(of: command))
    } catch {
        UserDP.exit(withError: plainError(error))
    }
    UserDP.exit()
}

/// Prints `error` as every failure is printed (`Error: ` and one line) and exits with
/// `status`; for failures outside a command, such as the BLAS environment checked before
/// parsing.
func exitAfterFailure(_ error: any Error, status: Int32) -> Never {
    printError(UserDP.fullMessage(for: plainError(error)))
    exit(status)
}

/// Prints `Error: message` and the usage of `command` (ArgumentParser's layout for usage
/// errors), then exits with status 64.
func exitWithUsageError(_ message: String, command: any ParsableCommand.Type) -> Never {
    let path = CommandTree.path(to: command, from: UserDP.self) ?? [UserDP.configuration.commandName ?? "userdp"]
    printError("Error: \(oneLine(message))")
    printError("Usage: \(UserDP.usageString(for: command))")
    printError("  See '\(path.joined(separator: " ")) --help' for more information.")
    exit(ExitCode.validationFailure.rawValue)
}

/// `error` with a one-line, user-facing description: the value ArgumentParser prints after
/// "Error: ".
///
/// ArgumentParser renders errors it does not know with `String(describing:)`, which for the
/// library's error enums, `DecodingError` or `NSError` is a dump of the value. Library errors
/// are `LocalizedError`s with messages that name the file, key or line; those messages are what
/// the user sees, on one line (control characters escaped, at most 2000 characters).
/// ArgumentParser's own errors (usage, help, exit codes) pass through unchanged.
func plainError(_ error: any Error) -> any Error {
    switch error {
    case is ExitCode, is CleanExit, is ValidationError:
        return error
    case let failure as CommandFailure:
        return CommandFailure(message: oneLine(failure.message))
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

/// A failure whose message is the whole line ArgumentParser prints after "Error: ".
struct CommandFailure: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
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
