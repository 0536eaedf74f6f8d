import Foundation

/// RFC 3339 timestamps in UTC, as written in `checkedAt`, `createdAt` and the database.
enum Timestamp {
    static func now() -> String { self.format(Date()) }

    static func format(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}
