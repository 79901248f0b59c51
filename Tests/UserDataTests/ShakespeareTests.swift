import Foundation
import Testing
import TestSupport

@testable import UserData

/// A miniature play in the conventions of the Gutenberg editions: personae, abbreviated
/// speaker lines, multi-line stage directions, a speech interrupted by a direction, a joint
/// speaker, a misspelt speaker, and a song.
let miniaturePlay = """
    THE TRAGEDY OF TESTING

    PERSONS REPRESENTED.

    Hamlet, Prince of Denmark.
    Horatio, Friend to Hamlet.
    Marcellus, an Officer.
    Cornwall, a Duke.
    Cordelia, a Lady.

    ACT I.

    Scene I. Elsinore. A platform.

    [Enter Hamlet and
    Horatio, with Cornwall.]

    Ham.
    Who's there?
    [Aside.] Stand, ho!

    Hor.
    Friends to this ground.

    [Exit Marcellus.]

    And liegemen to the Dane.

    Hamlet.
    Well, good night.

    Hor. and Mar.
    Good night, my lord.

    Corn.
    I am Cornwall.

    Cor.
    And I Cordelia.

    Hamlett.
    A slip of the pen.

    Song.
    Hey nonny nonny.

    Scene II. Another part.

    This line has no speaker.

    1 Clown.
    Is she to be buried?

    Ham.
    Alas, poor Yorick!
    """

@Suite struct ShakespeareParserTests {
    func build() throws -> (speeches: [(String, String)], result: PlayParser.Result) {
        let result = try PlayParser(file: "mini.txt", text: miniaturePlay).parse()
        let counts = Dictionary(result.speeches.map { ($0.label, 1) }, uniquingKeysWith: +)
        let resolved = SpeakerResolver(vocabulary: result.vocabulary, personae: result.personaeWords)
            .resolve(labelCounts: counts)
        return (result.speeches.map { (resolved[$0.label]!.speaker, $0.lines.joined(separator: "\n")) }, result)
    }

    @Test func speechesSpeakersAndDirections() throws {
        let (speeches, result) = try build()
        let expected: [(String, String)] = [
            ("HAMLET", "Who's there?\nStand, ho!"),
            ("HORATIO", "Friends to this ground.\nAnd liegemen to the Dane."),
            ("HAMLET", "Well, good night."),
            ("HORATIO AND MARCELLUS", "Good night, my lord."),
            ("CORNWALL", "I am Cornwall."),
            ("CORDELIA", "And I Cordelia."),
            ("HAMLETT", "A slip of the pen."),
            ("FIRST CLOWN", "Is she to be buried?"),
            ("HAMLET", "Alas, poor Yorick!"),
        ]
        #expect(speeches.map(\.0) == expected.map(\.0))
        #expect(speeches.map(\.1) == expected.map(\.1))
        // The song's line and the unattributed line after the scene heading.
        #expect(result.droppedLines == 2)
    }

    /// Scene I holds Hamlet's first three speeches and Scene II the last two: a scene number
    /// changes exactly at a heading.
    @Test func speechesKnowTheirScene() throws {
        let (_, result) = try build()
        #expect(result.speeches.map(\.scene) == [2, 2, 2, 2, 2, 2, 2, 3, 3])
    }

    @Test func misspellingMergesOnlyIntoAFrequentSpeaker() {
        let resolver = SpeakerResolver(vocabulary: [:], personae: [])
        let resolved = resolver.resolve(labelCounts: ["PERICLES": 120, "PERACLES": 1, "PRINCE": 40, "PRINCES": 1, "LUCIUS": 10, "LUCILIUS": 3])
        #expect(resolved["PERACLES"]!.speaker == "PERICLES")
        #expect(resolved["PERACLES"]!.rule == .misspelling)
        #expect(resolved["PRINCES"]!.speaker == "PRINCES", "a plural is both princes, not a typo")
        #expect(resolved["LUCILIUS"]!.speaker == "LUCILIUS", "three speeches are a character, not a slip")
    }

    @Test func abbreviationClaimedByALongerOneGoesElsewhere() {
        let resolver = SpeakerResolver(vocabulary: ["CORNWALL": 3, "CORDELIA": 2], personae: [])
        let resolved = resolver.resolve(labelCounts: ["COR": 31, "CORN": 53])
        #expect(resolved["CORN"]!.speaker == "CORNWALL")
        #expect(resolved["COR"]!.speaker == "CORDELIA")
    }

    @Test func normalisedLabels() {
        #expect(PlayParser.normalise("1 Clown.") == "FIRST CLOWN")
        #expect(PlayParser.normalise("I Play.") == "FIRST PLAY")
        #expect(PlayParser.normalise("Mrs. Page.") == "MRS PAGE")
        #expect(PlayParser.normalise("FALS, GADS., &C.") == "FALS, GADS")
        #expect(PlayParser.normalise("GLOUCESTER & CLARENCE.") == "GLOUCESTER AND CLARENCE")
        #expect(SpeakerResolver.parts(of: "CAESAR, ANTONY, AND LEPIDUS") == ["CAESAR", "ANTONY", "LEPIDUS"])
        #expect(SpeakerResolver.editDistance("PERACLES", "PERICLES") == 1)
        #expect(SpeakerResolver.editDistance("ANDARUS", "PANDARUS") == 1)
        #expect(SpeakerResolver.editDistance("", "AB") == 2)
    }
}

/// The shipped dataset, loaded once for all tests (parsing 5.7 MB of JSON in a debug build is
/// the slowest step of the suite).
let shippedShakespeare = Result { try Dataset.load(from: packageRoot.appendingPathComponent("data/shakespeare")) }

@Suite struct ShippedShakespeareTests {
    let folder = packageRoot.appendingPathComponent("data/shakespeare")

    @Test func shippedDatasetLoadsAndMatchesItsManifest() throws {
        let (dataset, report) = try shippedShakespeare.get()
        #expect(report.skipped.isEmpty)
        let statistics = try #require(dataset.manifest.statistics)
        #expect(dataset.records.count == statistics.records)
        #expect(dataset.userCount == statistics.users)
        #expect(statistics.tokenizer == ByteTokenizer().identity)
        #expect((1_300...1_450).contains(statistics.users))
        #expect((29_000...32_000).contains(statistics.records))
        let hamlet = dataset.records.filter { $0.user == "hamlet/HAMLET" }
        #expect(hamlet.count == 358)
        #expect(hamlet.contains { $0.text.hasPrefix("To be, or not to be,--that is the question:") })
    }

    @Test func poemsAndMiltonAreAbsent() throws {
        let (dataset, _) = try shippedShakespeare.get()
        let plays = Set(dataset.records.map { String($0.user.split(separator: "/")[0]) })
        #expect(plays.count == 37)
        for poem in Shakespeare.excludedPoems { #expect(!plays.contains(String(poem.dropLast(4)))) }
        let poemLines = [
            "Shall I compare thee to a summer's day?",  // Sonnet 18
            "From off a hill whose concave womb reworded",  // A Lover's Complaint
            "Of Man's first disobedience, and the fruit",  // Paradise Lost
        ]
        for line in poemLines { #expect(!dataset.records.contains { $0.text.contains(line) }) }
        let sources = try FileManager.default.contentsOfDirectory(atPath: folder.appendingPathComponent("sources").path)
        #expect(Set(sources) == Set(Shakespeare.plays.map { $0 + ".txt" } + ["metadata.txt", "COPYING-open-shakespeare.txt"]))
        #expect(throws: UserDataError.invalidImportOption(name: "plays", detail: "sonnets_gut is not one of the 37 plays")) {
            try Shakespeare.build(sources: folder.appendingPathComponent("sources"), plays: ["sonnets_gut"])
        }
    }

    /// The scene dataset holds the same users and text as the speech dataset, a user's
    /// speeches within one scene joined by a line break; the shipped copy is the rebuild.
    @Test func sceneRecordsJoinEachSpeakersSpeechesWithinAScene() throws {
        let sources = folder.appendingPathComponent("sources")
        let speeches = try Shakespeare.build(sources: sources, plays: ["hamlet_gut", "lear_gut"]).records
        let scenes = try Shakespeare.build(sources: sources, plays: ["hamlet_gut", "lear_gut"], unit: .scene).records
        func textByUser(_ records: [Record]) -> [String: String] {
            Dictionary(grouping: records, by: \.user).mapValues { $0.map(\.text).joined(separator: "\n") }
        }
        #expect(textByUser(scenes) == textByUser(speeches))
        #expect(Set(scenes.map(\.user)).count < scenes.count && scenes.count < speeches.count / 4)
        let hamlet = scenes.filter { $0.user == "hamlet/HAMLET" }
        #expect(hamlet.count > 10 && hamlet.count < 25, "Hamlet speaks in \(hamlet.count) scenes")
        let (shipped, _) = try Dataset.load(from: packageRoot.appendingPathComponent("data/shakespeare-scenes"))
        #expect(shipped.records.filter { $0.user.hasPrefix("hamlet/") || $0.user.hasPrefix("lear/") } == scenes)
        #expect(shipped.manifest.name == "shakespeare-scenes")
    }

    @Test func rebuildingTwoPlaysReproducesTheShippedRecords() throws {
        let (dataset, _) = try shippedShakespeare.get()
        let build = try Shakespeare.build(sources: folder.appendingPathComponent("sources"), plays: ["hamlet_gut", "lear_gut"])
        let shipped = dataset.records.filter { $0.user.hasPrefix("hamlet/") || $0.user.hasPrefix("lear/") }
        #expect(build.records == shipped)
        let lear = Set(build.records.filter { $0.user.hasPrefix("lear/") }.map(\.user))
        #expect(lear.isSuperset(of: ["lear/CORDELIA", "lear/CORNWALL", "lear/EDGAR", "lear/EDMUND", "lear/GONERIL", "lear/REGAN"]))
    }
}
