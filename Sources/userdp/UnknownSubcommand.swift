import ArgumentParser

/// The command tree as the user types it: names and aliases of each command's subcommands.
enum CommandTree {
    /// The name a command is typed as (its configured name, else ArgumentParser's default).
    static func name(of command: any ParsableCommand.Type) -> String {
        command.configuration.commandName ?? command._commandName
    }

    /// The subcommand of `command` typed as `word` (by name or alias), if any.
    static func subcommand(of command: any ParsableCommand.Type, named word: String) -> (any ParsableCommand.Type)? {
        command.configuration.subcommands.first { name(of: $0) == word || $0.configuration.aliases.contains(word) }
    }

    /// The names from `root` down to `target` (`["userdp", "sweep", "table"]`), or nil when
    /// `target` is not in the tree.
    static func path(to target: any ParsableCommand.Type, from root: any ParsableCommand.Type) -> [String]? {
        if root == target { return [name(of: root)] }
        for child in root.configuration.subcommands {
            if let rest = path(to: target, from: child) { return [name(of: root)] + rest }
        }
        return nil
    }
}

/// A word typed where a subcommand was expected that names none, with the subcommands it is
/// closest to: `userdp sweep rnu` → "Did you mean 'run'?".
///
/// Found by walking the arguments down the command tree: each word that names a subcommand
/// descends; the walk stops at the first option (`-...`), at `help`, at a command without
/// subcommands or with a default subcommand (whose arguments may be any word), and there is
/// nothing to report. Only consulted after ArgumentParser has refused the arguments, so a
/// command line that parses is never second-guessed.
struct UnknownSubcommand {
    /// The word that names no subcommand.
    let word: String
    /// The command whose subcommand it should have been.
    let parent: any ParsableCommand.Type
    /// The closest subcommand names, best first; empty when none is close.
    let suggestions: [String]

    /// The unknown subcommand in `arguments`, or nil when every subcommand word is known.
    init?(arguments: [String], root: any ParsableCommand.Type) {
        var command = root
        for word in arguments {
            let subcommands = command.configuration.subcommands
            guard !word.hasPrefix("-"), word != "help", !subcommands.isEmpty, command.configuration.defaultSubcommand == nil
            else { return nil }
            if let next = CommandTree.subcommand(of: command, named: word) {
                command = next
                continue
            }
            self.word = word
            self.parent = command
            self.suggestions = UnknownSubcommand.closest(to: word, among: subcommands.map(CommandTree.name(of:)))
            return
        }
        return nil
    }

    /// The error line: the word, the command it was typed under, and either the closest names
    /// or, when none is close, every subcommand.
    var message: String {
        let under = (CommandTree.path(to: parent, from: UserDP.self) ?? [CommandTree.name(of: parent)]).joined(separator: " ")
        let quoted = suggestions.map { "'\($0)'" }
        if !quoted.isEmpty {
            let choice = quoted.count == 1 ? quoted[0] : quoted.dropLast().joined(separator: ", ") + " or " + quoted.last!
            return "Unknown subcommand '\(word)' of '\(under)'. Did you mean \(choice)?"
        }
        let all = parent.configuration.subcommands.map(CommandTree.name(of:)).joined(separator: ", ")
        return "Unknown subcommand '\(word)' of '\(under)'; its subcommands are \(all)"
    }

    /// The names within typo distance of `word`, nearest first (ties in the given order):
    /// at most one edit per three letters of the name (at least one), or `word` a prefix of
    /// the name of at least three letters (`priv` → `privacy`).
    static func closest(to word: String, among names: [String]) -> [String] {
        let typed = word.lowercased()
        let scored = names.compactMap { name -> (name: String, distance: Int)? in
            let distance = editDistance(typed, name)
            if distance <= max(1, name.count / 3) { return (name, distance) }
            if typed.count >= 3, name.hasPrefix(typed) { return (name, name.count - typed.count) }
            return nil
        }
        guard let best = scored.map(\.distance).min() else { return [] }
        return scored.filter { $0.distance == best }.map(\.name)
    }

    /// The optimal-string-alignment distance between `a` and `b`: insertions, deletions,
    /// substitutions and swaps of two neighbouring characters each cost one (`rnu` → `run` is
    /// one swap), as typing mistakes do.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
        var table = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { table[i][0] = i }
        for j in 0...b.count { table[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                table[i][j] = min(table[i - 1][j] + 1, table[i][j - 1] + 1, table[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    table[i][j] = min(table[i][j], table[i - 2][j - 2] + 1)
                }
            }
        }
        return table[a.count][b.count]
    }
}
