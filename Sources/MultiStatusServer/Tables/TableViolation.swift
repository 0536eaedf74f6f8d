import MultiStatus
import PostgresNIO
import SQLiteKit

/// What a database refusal means for the one row that caused it: the precise problem (409 a
/// UNIQUE or foreign key, 422 NOT NULL or CHECK, 400 a value the column's type cannot read), or
/// `nil` when the refusal is not about the row (a lost connection, a lock timeout), which fails
/// the request instead.
enum TableViolation {
    static func problem(_ error: any Error, schema: TableSchema, deleting: Bool) -> ProblemDetails? {
        switch error {
        case let error as PSQLError:
            guard error.code == .server, let info = error.serverInfo, let state = info[.sqlState] else { return nil }
            let constraint = info[.constraintName]
            let detail = [info[.message], info[.detail]].compactMap { $0 }.joined(separator: ": ")
            switch state {
            case "23505":
                return self.unique(schema.uniques.first { $0.name == constraint }, named: constraint, schema: schema, detail: detail)
            case "23503":
                return self.foreignKey(constraint ?? "a foreign key", deleting: deleting, detail: detail)
            case "23502":
                let column = info[.columnName] ?? ""
                return ProblemDetails(
                    status: .unprocessableContent, detail: "column \(column) is NOT NULL", extensions: ["column": .string(column)])
            case "23514":
                return ProblemDetails(
                    status: .unprocessableContent, detail: "the row breaks CHECK constraint \(constraint ?? "")",
                    extensions: ["constraint": .string(constraint ?? "")])
            case "23P01":
                return ProblemDetails(status: .conflict, detail: detail, extensions: ["constraint": .string(constraint ?? "")])
            case _ where state.hasPrefix("22"):
                return ProblemDetails(status: .badRequest, detail: "the database cannot read a value of the row: \(detail)")
            case "P0001":
                // RAISE EXCEPTION in a trigger that refused the row.
                return ProblemDetails(status: .unprocessableContent, detail: "the database refused the row: \(detail)")
            default:
                return nil
            }
        case let error as SQLiteError:
            let message = error.message
            func after(_ prefix: String) -> String? {
                guard let range = message.range(of: prefix) else { return nil }
                return String(message[range.upperBound...])
            }
            if let list = after("UNIQUE constraint failed: ") ?? after("PRIMARY KEY constraint failed: ") {
                let names = Set(
                    list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).split(separator: ".").last.map(String.init) ?? "" })
                let unique = schema.uniques.first { Set($0.columns.map { schema.columns[$0].name }) == names }
                return self.unique(unique, named: unique?.name, schema: schema, detail: message)
            }
            if let name = after("CHECK constraint failed: ") {
                return ProblemDetails(
                    status: .unprocessableContent, detail: "the row breaks CHECK constraint \(name)", extensions: ["constraint": .string(name)])
            }
            if let column = after("NOT NULL constraint failed: ") {
                let name = column.split(separator: ".").last.map(String.init) ?? column
                return ProblemDetails(status: .unprocessableContent, detail: "column \(name) is NOT NULL", extensions: ["column": .string(name)])
            }
            if message.contains("FOREIGN KEY constraint failed") {
                // SQLite does not say which: named when only one can be meant.
                let candidates = deleting ? schema.referencedBy : schema.foreignKeys.map(\.name)
                let name = candidates.count == 1 ? candidates[0] : "a foreign key"
                return self.foreignKey(name, deleting: deleting, detail: message)
            }
            if message.hasPrefix("cannot store") {
                return ProblemDetails(status: .badRequest, detail: "the database cannot store a value of the row: \(message)")
            }
            if error.reason == .constraintTriggerFailed || error.reason == .constraint {
                // RAISE(ABORT, …) in a trigger that refused the row.
                return ProblemDetails(status: .unprocessableContent, detail: "the database refused the row: \(message)")
            }
            return nil
        default:
            return nil
        }
    }

    /// 409 for a UNIQUE constraint or key that another row holds.
    static func unique(_ unique: UniqueConstraint?, named name: String?, schema: TableSchema, detail: String, byBatch: Bool = false) -> ProblemDetails
    {
        var extensions: [String: JSONValue] = ["constraint": .string(name ?? unique?.name ?? "")]
        let columns = unique?.columns.map { schema.columns[$0].name } ?? []
        if !columns.isEmpty { extensions["columns"] = .array(columns.map(JSONValue.string)) }
        let what = unique?.isPrimary == true ? "key" : "UNIQUE \(name ?? "")"
        let holder = byBatch ? "an earlier item of this batch" : "another row"
        return ProblemDetails(
            status: .conflict,
            detail: "\(what) (\(columns.joined(separator: ", "))) is taken by \(holder)" + (detail.isEmpty ? "" : ": \(detail)"),
            extensions: extensions)
    }

    /// 409 for a foreign key: a parent row missing, or, on delete, a child row still referring.
    static func foreignKey(_ name: String, deleting: Bool, detail: String) -> ProblemDetails {
        ProblemDetails(
            status: .conflict,
            detail: deleting ? "the row is still referred to through \(name): \(detail)" : "\(name) refers to a row that does not exist: \(detail)",
            extensions: ["constraint": .string(name)])
    }
}
