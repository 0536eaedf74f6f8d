public import AsyncHTTPClient
import Foundation
public import MultiStatus
import NIOCore
public import NIOHTTP1

/// Sends requests to a multi-status server and reads the 207 answers.
///
/// ```swift
/// let client = MultiStatusHTTPClient(baseURL: "http://127.0.0.1:8080", credentials: .bearer(token))
/// let sources = try await client.get("/check-statuses", collection: .sources)
/// ```
public struct MultiStatusHTTPClient: Sendable {
    /// The server's base URL, without a trailing slash.
    public let baseURL: String
    /// The HTTP client used.
    public let httpClient: HTTPClient
    /// Sent with every request, where the server has accounts.
    public var credentials: Credentials?
    /// Largest response body read, in bytes.
    public var maxResponseBytes: Int = 256 << 20

    /// Creates a client for the server at `baseURL`.
    /// - Parameters:
    ///   - baseURL: `http://` or `https://`, host and port.
    ///   - httpClient: the HTTP client to use (its TLS configuration decides which certificates are trusted).
    ///   - credentials: HTTP Basic or a bearer token, for a server with accounts.
    public init(baseURL: String, httpClient: HTTPClient = .shared, credentials: Credentials? = nil) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.httpClient = httpClient
        self.credentials = credentials
    }

    /// A whole-request failure: the server answered with one status and a problem body.
    public struct RequestFailed: Error, CustomStringConvertible, Sendable {
        /// The problem the server sent, or one made from its status.
        public let problem: ProblemDetails
        public var description: String { "\(self.problem.status.code) \(self.problem.title): \(self.problem.detail ?? "")" }
    }

    /// Sends `method path` with an optional body and reads the multi-status answer.
    /// - Parameters:
    ///   - method: the HTTP method.
    ///   - path: the path and query, starting with `/`.
    ///   - body: the request body.
    ///   - contentType: the body's media type.
    ///   - format: the answer format to ask for.
    ///   - collection: what the items are.
    /// - Throws: ``RequestFailed`` when the server answered with a single status instead of a list.
    public func send(
        _ method: HTTPMethod,
        _ path: String,
        body: [UInt8]? = nil,
        contentType: String = "application/json",
        format: MultiStatusFormat = .json,
        collection: ResourceCollection? = nil
    ) async throws -> ReceivedMultiStatus {
        var request = HTTPClientRequest(url: self.baseURL + path)
        request.method = method
        request.headers.add(name: "Accept", value: format.contentType)
        if let credentials { request.headers.add(name: "Authorization", value: credentials.authorization) }
        if let body {
            request.body = .bytes(body)
            request.headers.add(name: "Content-Type", value: contentType)
        }
        let response = try await self.httpClient.execute(request, timeout: .seconds(60))
        let bytes = Array(buffer: try await response.body.collect(upTo: self.maxResponseBytes))
        let responseType = response.headers.first(name: "Content-Type") ?? ""
        if responseType.hasPrefix(ProblemDetails.mediaType) || MultiStatusReader.format(contentType: responseType) == nil {
            let json = try? JSONDecoder().decode(JSONValue.self, from: Data(bytes))
            let problem = json.flatMap(ProblemDetails.init(json:)) ?? ProblemDetails(status: .init(code: Int(response.status.code)))
            throw RequestFailed(problem: problem)
        }
        return try MultiStatusReader.read(bytes, format: MultiStatusReader.format(contentType: responseType) ?? format, collection: collection)
    }

    /// `GET path`, read as a multi-status answer.
    public func get(_ path: String, format: MultiStatusFormat = .json, collection: ResourceCollection? = nil) async throws -> ReceivedMultiStatus {
        try await self.send(.GET, path, format: format, collection: collection)
    }
}
