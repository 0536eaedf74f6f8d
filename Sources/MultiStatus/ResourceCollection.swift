/// Names the list of a 207 body and the identifier of its items.
///
/// `files`/`filename` for uploads, `updates`/`id` for batch updates, `sources`/`source`
/// for status checks. Other endpoints declare their own.
///
/// ```swift
/// let tags = ResourceCollection(key: "tags", identifierKey: "name", hrefPrefix: "/tags/")
/// ```
public struct ResourceCollection: Sendable, Hashable {
    /// The JSON key of the item list, a plural noun (`files`).
    public var key: String
    /// The JSON key of each item's identifier (`filename`).
    public var identifierKey: String
    /// The URL path that an identifier is appended to (percent-encoded) for the item's `href`
    /// in XML when the item has neither `href` nor `location`.
    public var hrefPrefix: String

    /// Creates a collection description.
    public init(key: String, identifierKey: String, hrefPrefix: String) {
        self.key = key
        self.identifierKey = identifierKey
        self.hrefPrefix = hrefPrefix
    }

    /// Uploaded files: `{"files": [{"filename": …}]}`.
    public static let files = ResourceCollection(key: "files", identifierKey: "filename", hrefPrefix: "/files/")
    /// Batch record updates: `{"updates": [{"id": …}]}`.
    public static let updates = ResourceCollection(key: "updates", identifierKey: "id", hrefPrefix: "/users/")
    /// Status check sources: `{"sources": [{"source": …}]}`.
    public static let sources = ResourceCollection(key: "sources", identifierKey: "source", hrefPrefix: "/check-statuses/")

    /// The collections every reader knows without being told.
    public static let known: [ResourceCollection] = [.files, .updates, .sources]
}
