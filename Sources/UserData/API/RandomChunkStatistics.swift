/// What the windows of `random-chunk` selection hold on a dataset: exact expectations over the
/// uniform window offset, averaged over users with equal weight (both mechanisms take the same
/// number of units from every user, so every user counts once).
///
/// A user's stream is their records joined with the separator (``TokenizedUser/stream(separator:)``);
/// a window is L consecutive stream tokens at an offset uniform in 0 ... T − L, or the whole
/// stream when T ≤ L (`SelectionStrategy.randomChunk`). These numbers answer what a chunk
/// trains on that a record does not: record boundaries inside the window and windows that start
/// in the middle of a record.
public struct RandomChunkStatistics: Sendable, Equatable, Encodable {
    /// L, the window length in tokens.
    public var contextLength: Int
    /// Users measured (every user with at least one record).
    public var users: Int
    /// Users whose whole stream fits in one window (T ≤ L): each of their chunks is the stream.
    public var usersWithinOneWindow: Int
    /// Mean tokens in one chunk (L, or T for a short stream).
    public var meanChunkTokens: Double
    /// Mean tokens in one record unit (a record truncated to L), over a user's records, then
    /// over users: what one unit of the record-level strategies holds under `random`.
    public var meanRecordUnitTokens: Double
    /// Probability that a window holds at least one separator (spans a record boundary).
    public var windowsWithSeparator: Double
    /// Expected separators in one window (records touched minus one).
    public var meanSeparatorsPerWindow: Double
    /// Probability that a window starts inside a record (not at a record's first token or on
    /// a separator), so its first tokens are predicted without the record's beginning.
    public var windowsStartingMidRecord: Double

    enum CodingKeys: String, CodingKey {
        case contextLength = "context_length"
        case users
        case usersWithinOneWindow = "users_within_one_window"
        case meanChunkTokens = "mean_chunk_tokens"
        case meanRecordUnitTokens = "mean_record_unit_tokens"
        case windowsWithSeparator = "windows_with_separator"
        case meanSeparatorsPerWindow = "mean_separators_per_window"
        case windowsStartingMidRecord = "windows_starting_mid_record"
    }

    /// Measures `dataset` for windows of `contextLength` tokens.
    /// - Throws: ``UserDataError/invalidContextLength(_:)`` for L < 1, `emptyDataset` when no
    ///   user has a record.
    public init(dataset: TokenizedDataset, contextLength: Int) throws {
        guard contextLength >= 1 else { throw UserDataError.invalidContextLength(contextLength) }
        let L = contextLength
        var users = 0
        var within = 0
        var chunkTokens = 0.0
        var recordTokens = 0.0
        var withSeparator = 0.0
        var separators = 0.0
        var midRecord = 0.0
        for user in dataset.users where !user.records.isEmpty {
            users += 1
            recordTokens += user.records.reduce(0.0) { $0 + Double(min($1.count, L)) } / Double(user.records.count)
            let stream = user.stream(separator: dataset.separator)
            let T = stream.count
            if T <= L {
                within += 1
                chunkTokens += Double(T)
                let boundaries = Double(user.records.count - 1)
                separators += boundaries
                withSeparator += boundaries > 0 ? 1 : 0
                continue
            }
            chunkTokens += Double(L)
            // prefix[i]: separators among stream[0..<i], located from the record lengths (a
            // record's own text never counts as a boundary). A record starts at 0 and after each
            // separator; a window starting on a separator also starts at a boundary.
            var isSeparator = [Bool](repeating: false, count: T)
            var position = 0
            for record in user.records.dropLast() {
                position += record.count
                isSeparator[position] = true
                position += 1
            }
            var prefix = [Int](repeating: 0, count: T + 1)
            var startsRecord = [Bool](repeating: false, count: T)
            startsRecord[0] = true
            for i in 0..<T {
                prefix[i + 1] = prefix[i] + (isSeparator[i] ? 1 : 0)
                if isSeparator[i] {
                    startsRecord[i] = true
                    if i + 1 < T { startsRecord[i + 1] = true }
                }
            }
            let offsets = T - L + 1
            var userWith = 0
            var userSeparators = 0
            var userMid = 0
            for start in 0..<offsets {
                let count = prefix[start + L] - prefix[start]
                userSeparators += count
                if count > 0 { userWith += 1 }
                if !startsRecord[start] { userMid += 1 }
            }
            withSeparator += Double(userWith) / Double(offsets)
            separators += Double(userSeparators) / Double(offsets)
            midRecord += Double(userMid) / Double(offsets)
        }
        guard users > 0 else { throw UserDataError.emptyDataset(file: "dataset \(dataset.datasetHash.prefix(12))") }
        let n = Double(users)
        self.contextLength = L
        self.users = users
        self.usersWithinOneWindow = within
        self.meanChunkTokens = chunkTokens / n
        self.meanRecordUnitTokens = recordTokens / n
        self.windowsWithSeparator = withSeparator / n
        self.meanSeparatorsPerWindow = separators / n
        self.windowsStartingMidRecord = midRecord / n
    }

    /// The terminal table.
    public func table(title: String) -> String {
        func percent(_ value: Double) -> String { String(format: "%.1f%%", 100 * value) }
        let rows: [(String, String)] = [
            ("context length L (tokens)", "\(contextLength)"),
            ("users", "\(users)"),
            ("users whose whole stream fits one window", "\(usersWithinOneWindow) (\(percent(Double(usersWithinOneWindow) / Double(users))))"),
            ("mean tokens per chunk", String(format: "%.1f", meanChunkTokens)),
            ("mean tokens per record unit", String(format: "%.1f", meanRecordUnitTokens)),
            ("windows spanning a record boundary", percent(windowsWithSeparator)),
            ("mean separators per window", String(format: "%.2f", meanSeparatorsPerWindow)),
            ("windows starting inside a record", percent(windowsStartingMidRecord)),
        ]
        let width = rows.map(\.0.count).max() ?? 0
        return ([title] + rows.map { $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0.1 })
            .joined(separator: "\n")
    }
}
