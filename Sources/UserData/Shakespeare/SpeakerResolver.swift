/// Resolves the speaker labels of one play to consistent speaker names.
///
/// Rules, applied per play and logged in ``SpeakerResolution``:
/// 1. **Joint speakers** (`Mar. and Ber.`, `CAESAR, ANTONY, and LEPIDUS`) are resolved part by
///    part and joined with ` AND `; they stay users of their own (a chorus of speakers is not
///    any one of them).
/// 2. **Abbreviations**: a word of two to five letters that is not a word of the dramatis
///    personae is expanded to the unique longer capitalised word that starts with it in the
///    personae or the stage directions (`HAM` → `HAMLET`, `GLEND` → `GLENDOWER`,
///    `FIRST PLAY` → `FIRST PLAYER`). Plurals collapse onto their singular, a unique personae
///    word wins over direction words, and a word already claimed by another label's unique
///    expansion is not a candidate (Lear: `CORN` claims `CORNWALL`, so `COR` is `CORDELIA`).
///    Role plurals found only in the personae are made singular (`SERVANTS` → `SERVANT`).
/// 3. **Misspellings**: a label with at most two speeches, none of whose words is in the
///    personae, merges into the one speaker within edit distance 1 (2 for names of eight letters
///    or more) that has at least ten speeches and ten times as many (`PERACLES` → `PERICLES`);
///    a plural (`PRINCES`, both princes at once) is not a misspelling of its singular.
///
/// Name changes of one character (Richard / Gloster in 3 Henry VI, Bolingbroke / King Henry)
/// are not abbreviations and stay separate users.
struct SpeakerResolver {
    static let kept: Set<String> = ["ALL", "BOTH", "SOME", "OTHER", "ANOTHER", "THREE", "LORDS", "OF", "DE", "THE", "LE", "LA", "TO", "AND"]
    static let ordinalWords: Set<String> = ["FIRST", "SECOND", "THIRD", "FOURTH", "FIFTH", "SIXTH"]

    let vocabulary: [String: Int]
    let personae: Set<String>

    /// Resolved name per label, and how each was resolved.
    func resolve(labelCounts: [String: Int]) -> [String: (speaker: String, rule: SpeakerResolution.Rule)] {
        let words = Set(labelCounts.keys.flatMap { SpeakerResolver.parts(of: $0).flatMap { $0.split(separator: " ").map(String.init) } })
        var claimed: [String: String] = [:]
        for word in words.sorted() where expandable(word) {
            let choices = preferred(candidates(word))
            if choices.count == 1 { claimed[word] = choices.first! }
        }
        let claimedTargets = Set(claimed.values)
        func expand(_ word: String) -> String {
            guard expandable(word) else { return word }
            if let target = claimed[word] { return singular(target, of: word) }
            let choices = preferred(candidates(word).subtracting(claimedTargets))
            return choices.count == 1 ? singular(choices.first!, of: word) : word
        }
        var result: [String: (speaker: String, rule: SpeakerResolution.Rule)] = [:]
        for label in labelCounts.keys {
            let parts = SpeakerResolver.parts(of: label)
            let resolved = parts.map { part in part.split(separator: " ").map { expand(String($0)) }.joined(separator: " ") }
                .joined(separator: " AND ")
            let rule: SpeakerResolution.Rule =
                parts.count > 1 ? .joint : resolved == label ? .asWritten : .abbreviation
            result[label] = (resolved, rule)
        }

        // Misspellings, judged on the totals after expansion.
        var totals: [String: Int] = [:]
        for (label, count) in labelCounts { totals[result[label]!.speaker, default: 0] += count }
        var renamed: [String: String] = [:]
        for (name, count) in totals.sorted(by: { $0.key < $1.key }) where count <= 2 {
            if name.split(separator: " ").contains(where: { personae.contains(String($0)) }) { continue }
            let limit = name.count >= 8 ? 2 : 1
            let targets = totals.filter { other in
                other.key != name && other.key + "S" != name && other.value >= 10 && other.value >= 10 * count
                    && SpeakerResolver.editDistance(name, other.key) <= limit
            }
            if targets.count == 1 { renamed[name] = targets.first!.key }
        }
        for (label, entry) in result {
            if let target = renamed[entry.speaker] { result[label] = (target, .misspelling) }
        }
        return result
    }

    /// The speakers of a joint label: `CAESAR, ANTONY, AND LEPIDUS` → three parts.
    static func parts(of label: String) -> [String] {
        var parts: [String] = []
        for piece in label.components(separatedBy: " AND ") {
            for part in piece.components(separatedBy: ", ") {
                var trimmed = part.trimmingCharacters(in: [" ", ","])
                if trimmed.hasPrefix("AND ") { trimmed.removeFirst(4) }
                if !trimmed.isEmpty { parts.append(trimmed) }
            }
        }
        return parts.isEmpty ? [label] : parts
    }

    private func expandable(_ word: String) -> Bool {
        (2...5).contains(word.count) && !SpeakerResolver.kept.contains(word)
            && !SpeakerResolver.ordinalWords.contains(word) && !personae.contains(word)
    }

    private func candidates(_ word: String) -> Set<String> {
        var found: Set<String> = []
        for candidate in vocabulary.keys where candidate.count > word.count && candidate.hasPrefix(word) {
            if candidate.contains("-") && !word.contains("-") { continue }
            if candidate == word + "S" || candidate == word + "ES" { continue }
            found.insert(candidate)
        }
        return found
    }

    private func preferred(_ candidates: Set<String>) -> Set<String> {
        let singulars = candidates.filter { !($0.hasSuffix("S") && candidates.contains(String($0.dropLast()))) }
        let fromPersonae = singulars.filter { personae.contains($0) }
        return fromPersonae.count == 1 ? fromPersonae : singulars
    }

    /// `SERVANTS` → `SERVANT`, `WATCHMEN` → `WATCHMAN`: a role in the plural (as the personae list
    /// them) names one speaker in the singular. Proper names ending in `S` (DOUGLAS) are kept.
    private func singular(_ word: String, of abbreviation: String) -> String {
        var result = word
        if word.hasSuffix("MEN") {
            result = String(word.dropLast(3)) + "MAN"
        } else if word.hasSuffix("NTS") || word.hasSuffix("ERS") || word.hasSuffix("ORS") {
            result = String(word.dropLast())
        }
        return result.hasPrefix(abbreviation) ? result : word
    }

    /// Levenshtein distance (insertions, deletions, substitutions of one character).
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + [Int](repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
