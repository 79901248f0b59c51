import Foundation
import Persistence

/// One text a user contributed: an email, a speech, a chapter.
///
/// On disk a record is one line of JSON Lines: `{"user": "...", "text": "...", "id": "...",
/// "meta": {...}}` where `id` and `meta` are optional. `user` decides the privacy unit of
/// user-level DP: all records with the same `user` belong to one person.
public struct Record: Sendable, Hashable {
    /// Who wrote the text (the privacy unit of user-level DP). Non-empty.
    public var user: String
    /// The text itself. Non-empty; line breaks are kept.
    public var text: String
    /// A stable identifier, unique within the dataset when present. Perplexity scores are keyed
    /// by ``key``, which falls back to the record's position when `id` is absent.
    public var id: String?
    /// Free-form metadata (subject, date, play ...); never used for training.
    public var meta: [String: JSONValue]?

    /// A record; `user` and `text` should be non-empty (the loader enforces it for files).
    public init(user: String, text: String, id: String? = nil, meta: [String: JSONValue]? = nil) {
        self.user = user
        self.text = text
        self.id = id
        self.meta = meta
    }
}
