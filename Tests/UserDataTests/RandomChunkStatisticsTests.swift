import Testing

@testable import UserData

@Suite struct RandomChunkStatisticsTests {
    /// ann: stream [1, 2, 0, 3] (T = 4); bob: one record [5, 6, 7]; cid: [9] (T = 1 ≤ L).
    let dataset = TokenizedDataset(
        datasetHash: "h", tokenizerIdentity: "t", separator: 0,
        users: [
            TokenizedUser(user: "ann", records: [[1, 2], [3]]),
            TokenizedUser(user: "bob", records: [[5, 6, 7]]),
            TokenizedUser(user: "cid", records: [[9]]),
        ])

    @Test func streamJoinsRecordsWithTheSeparatorBetweenThem() {
        #expect(dataset.users[0].stream(separator: 0) == [1, 2, 0, 3])
        #expect(dataset.users[1].stream(separator: 0) == [5, 6, 7])
        #expect(TokenizedUser(user: "x", records: []).stream(separator: 0) == [])
    }

    /// Windows of 2: ann [1,2] [2,0] [0,3] (separators 0,1,1; [2,0] starts inside a record,
    /// [0,3] on a separator); bob [5,6] [6,7] ([6,7] starts inside); cid's stream fits.
    @Test func expectationsOverOffsetsMatchAHandCount() throws {
        let statistics = try RandomChunkStatistics(dataset: dataset, contextLength: 2)
        #expect(statistics.users == 3)
        #expect(statistics.usersWithinOneWindow == 1)
        #expect(abs(statistics.meanChunkTokens - (2 + 2 + 1) / 3.0) < 1e-12)
        #expect(abs(statistics.meanRecordUnitTokens - (1.5 + 2 + 1) / 3.0) < 1e-12)
        #expect(abs(statistics.windowsWithSeparator - (2.0 / 3 + 0 + 0) / 3) < 1e-12)
        #expect(abs(statistics.meanSeparatorsPerWindow - (2.0 / 3 + 0 + 0) / 3) < 1e-12)
        #expect(abs(statistics.windowsStartingMidRecord - (1.0 / 3 + 1.0 / 2 + 0) / 3) < 1e-12)
    }

    /// A record's own text may hold the separator token: only the joins count as boundaries.
    @Test func aSeparatorTokenInsideARecordIsNoBoundary() throws {
        let user = TokenizedUser(user: "eve", records: [[4, 0, 4, 4]])
        let data = TokenizedDataset(datasetHash: "h", tokenizerIdentity: "t", separator: 0, users: [user])
        let statistics = try RandomChunkStatistics(dataset: data, contextLength: 2)
        #expect(statistics.windowsWithSeparator == 0)
        #expect(statistics.meanSeparatorsPerWindow == 0)
    }

    @Test func aShortStreamWithSeveralRecordsCountsItsBoundaries() throws {
        let statistics = try RandomChunkStatistics(dataset: dataset, contextLength: 8)
        #expect(statistics.usersWithinOneWindow == 3)
        #expect(abs(statistics.meanSeparatorsPerWindow - 1.0 / 3) < 1e-12)
        #expect(abs(statistics.windowsWithSeparator - 1.0 / 3) < 1e-12)
        #expect(statistics.windowsStartingMidRecord == 0)
    }

    @Test func badInputIsAnError() {
        #expect(throws: UserDataError.invalidContextLength(0)) { try RandomChunkStatistics(dataset: dataset, contextLength: 0) }
        let empty = TokenizedDataset(datasetHash: "h", tokenizerIdentity: "t", separator: 0, users: [])
        #expect(throws: UserDataError.self) { try RandomChunkStatistics(dataset: empty, contextLength: 4) }
    }
}
