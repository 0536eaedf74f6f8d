import Hummingbird
import MultiStatus

extension DAVRoutes {
    /// COPY and MOVE (RFC 4918 sections 9.8, 9.9): `Destination`, `Overwrite`, `Depth`; properties go along, locks stay behind.
    func copyOrMove(_ request: Request, path source: StorePath, move: Bool) async throws -> Response {
        let method = move ? "MOVE" : "COPY"
        guard let destinationURL = request.headers[.destination] else {
            throw ProblemDetails(status: .badRequest, detail: "\(method) needs a Destination header")
        }
        guard let destination = try DAVLocation.storePath(url: destinationURL, request: request) else {
            throw ProblemDetails(status: .badGateway, detail: "Destination \(destinationURL) is not on this server below \(DAVLocation.prefix)/")
        }
        guard let item = try await self.store.attributes(of: source) else { throw Self.notFound(source) }
        guard !source.components.isEmpty, !destination.components.isEmpty else {
            throw ProblemDetails(status: .forbidden, detail: "the root collection cannot be copied, moved or replaced")
        }
        guard source != destination else { throw ProblemDetails(status: .forbidden, detail: "source and destination are the same resource") }
        if destination.isBelow(source) {
            throw ProblemDetails(status: .forbidden, detail: "the destination is inside the source")
        }
        let overwrite: Bool
        switch request.headers[.overwrite]?.uppercased() {
        case nil, "T": overwrite = true
        case "F": overwrite = false
        default: throw ProblemDetails(status: .badRequest, detail: "Overwrite must be T or F")
        }
        let recursive: Bool
        switch request.headers[.depth]?.lowercased() {
        case nil, "infinity": recursive = true
        case "0" where !move: recursive = false
        default: throw ProblemDetails(status: .badRequest, detail: "Depth of \(method) must be \(move ? "infinity" : "0 or infinity")")
        }
        try await self.requireParent(of: destination)
        let replaced = try await self.store.attributes(of: destination)
        if replaced != nil && !overwrite {
            throw ProblemDetails(
                status: .preconditionFailed, detail: "\(DAVLocation.href(destination, isCollection: replaced!.isDirectory)) exists and Overwrite is F"
            )
        }
        // Replacing a collection that holds the source would delete the source with it.
        if replaced != nil && source.isBelow(destination) {
            throw ProblemDetails(status: .forbidden, detail: "the destination holds the source and would be deleted with it")
        }
        try await self.authorize(
            request, path: source, protecting: FileOperations.transferring(from: source, to: destination, replacing: replaced != nil, move: move))

        if replaced != nil { try await self.operations.remove(at: destination) }
        if move {
            try await self.operations.move(from: source, to: destination)
        } else {
            try await self.operations.copy(from: source, to: destination, recursive: recursive || !item.isDirectory)
        }
        return Response(status: replaced == nil ? .created : .noContent, headers: [.contentLength: "0"])
    }
}
