import Hummingbird
import HummingbirdAuth
import MultiStatus
import MultiStatusHummingbird

/// `POST /upload`: many files in one request, 207 with one item per file, in the account's view of the store.
struct UploadRoutes<Context: AuthRequestContext<Account>> {
    let store: any FileStore
    let limits: Limits
    let metrics: ServerMetrics

    func register(on router: Router<Context>) {
        router.post("upload") { request, context in
            try await self.upload(request, context: context)
        }
    }

    private func upload(_ request: Request, context: Context) async throws -> Response {
        let options = try MultiStatusRequestOptions(request)
        let folder = try StorePath(relative: request.uri.queryParameters["dir"].map(String.init) ?? "")
        let overwrite = try request.booleanQuery("overwrite") ?? false
        let contentType = request.headers[.contentType] ?? ""
        let mediaType = FileTypes.essence(ofContentType: contentType) ?? ""
        let batch = UploadBatch(
            store: self.store.view(under: context.storeRoot), limits: self.limits,
            options: .init(folder: folder, overwrite: overwrite, atomic: options.atomic))

        do {
            switch mediaType {
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
                    context.logger.notice("upload interrupted", metadata: ["error": "\(error)", "atomic": "\(options.atomic)"])
                    if !options.atomic { _ = try? await batch.commit() }
                    throw error
                }
            case "application/json":
                let document = try await request.body.collect(upTo: self.limits.bytesPerDocument)
                try await JSONUpload.read(document, into: batch)
            default:
                throw ProblemDetails(
                    status: .unsupportedMediaType,
                    detail:
                        "POST /upload takes multipart/form-data or application/json, not \(mediaType.isEmpty ? "a body without Content-Type" : mediaType)"
                )
            }
            let report = try await batch.commit()
            self.metrics.batch(endpoint: "POST /upload", items: report.items)
            return try MultiStatusResponse(report).response(from: request, context: context)
        } catch {
            await batch.discardAll()
            throw error
        }
    }
}
