import Hummingbird
import HummingbirdAuth
import MultiStatus
import MultiStatusHummingbird

/// `POST /upload`: many files in one request, 207 with one item per file, in the account's view of
/// the store; answered by the ``BatchResponder`` every batch endpoint shares (options,
/// `Idempotency-Key`, atomic mode, the report), its files streamed to staging as they arrive.
struct UploadRoutes<Context: AuthRequestContext<Account>> {
    let operations: FileOperations
    let limits: Limits
    let batches: BatchResponder

    func register(on router: Router<Context>) {
        router.post("upload") { request, context in
            try await self.upload(request, context: context)
        }
    }

    private func upload(_ request: Request, context: Context) async throws -> Response {
        let folder = try StorePath(relative: request.uri.queryParameters["dir"].map(String.init) ?? "")
        let overwrite = try request.booleanQuery("overwrite") ?? false
        let parents = try request.booleanQuery("parents") ?? false
        let operations = self.operations.scoped(to: context.storeRoot, principal: context.principal)
        // WebDAV locks bind uploads too: their tokens come in an If header, as WebDAV's do.
        let tokens = try FileOperations.submittedTokens(request.headers, limits: self.limits)
        return try await self.batches.respond(
            request, context: context, owner: context.identity?.name,
            endpoint: .init(collection: .files, example: #"multipart/form-data, or {"files": [{"filename", "content"}, …]}"#),
            read: { options in
                let batch = UploadBatch(
                    store: operations.store, limits: self.limits,
                    options: .init(
                        folder: folder, overwrite: overwrite, atomic: options.atomic, parents: parents,
                        fingerprinting: request.headers[.idempotencyKey] != nil),
                    lockRefusals: { try await operations.lockRefusals(writing: $0, submitted: tokens, hint: "send its lock token in an If header") })
                do {
                    try await self.read(request, context: context, into: batch)
                } catch {
                    await batch.discardAll()
                    throw error
                }
                return batch
            },
            fingerprint: { $0.fingerprint },
            apply: { batch, _, render in try render(try await batch.commit()) },
            discard: { await $0.discardAll() })
    }

    /// Reads the body's files into `batch`, staged as they arrive.
    private func read(_ request: Request, context: Context, into batch: UploadBatch) async throws {
        let contentType = request.headers[.contentType] ?? ""
        switch ContentType.essence(contentType) ?? "" {
        case "multipart/form-data":
            let boundary = try MultipartUpload.boundary(contentType: contentType)
            do {
                if try await MultipartUpload.read(request.body, boundary: boundary, into: batch) == .truncated {
                    context.logger.notice("upload body ended before its closing delimiter; keeping complete files")
                }
            } catch let problem as ProblemDetails {
                throw problem
            } catch {
                // The client went away mid-body: the files that were complete are still committed,
                // unless the upload is atomic, which means none of them.
                context.logger.notice("upload interrupted", metadata: ["error": "\(error)", "atomic": "\(batch.options.atomic)"])
                if !batch.options.atomic { _ = try? await batch.commit() }
                throw error
            }
        case "application/json":
            let document = try await request.body.collect(upTo: self.limits.bytesPerDocument)
            try await JSONUpload.read(document, into: batch)
        case let mediaType:
            throw ProblemDetails(
                status: .unsupportedMediaType,
                detail:
                    "POST /upload takes multipart/form-data or application/json, not \(mediaType.isEmpty ? "a body without Content-Type" : mediaType)"
            )
        }
    }
}
