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

        public init(problem: ProblemDetails) {
            self.problem = problem
        }

        /// The failure a response answers with: the problem in its body, or one made from its status.
        public init(status: HTTPResponseStatus, body: some Collection<UInt8>) {
            let problem = (try? JSONValue.parse(body)).flatMap(ProblemDetails.init(json:))
            self.init(problem: problem ?? ProblemDetails(status: .init(code: Int(status.code))))
        }
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
    ///   - headers: more request fields (`Prefer`, `Idempotency-Key`).
    /// - Returns: the items, with the status line in ``ReceivedMultiStatus/status``.
    /// - Throws: ``RequestFailed`` when the server answered with a single status instead of a list.
    public func send(
        _ method: HTTPMethod,
        _ path: String,
        body: HTTPClientRequest.Body? = nil,
        contentType: String = "application/json",
        format: MultiStatusFormat = .json,
        collection: ResourceCollection? = nil,
        headers: [(String, String)] = []
    ) async throws -> ReceivedMultiStatus {
        let response = try await self.execute(method, path, body: body, contentType: contentType, accept: format.contentType, headers: headers)
        let bytes = Array(buffer: try await response.body.collect(upTo: self.maxResponseBytes))
        let responseType = response.headers.first(name: "Content-Type") ?? ""
        if responseType.hasPrefix(ProblemDetails.mediaType) || MultiStatusReader.format(contentType: responseType) == nil {
            throw RequestFailed(status: response.status, body: bytes)
        }
        var answer = try MultiStatusReader.read(bytes, format: MultiStatusReader.format(contentType: responseType) ?? format, collection: collection)
        answer.status = .init(code: Int(response.status.code))
        return answer
    }

    /// The same, with the body given as bytes.
    public func send(
        _ method: HTTPMethod,
        _ path: String,
        body: [UInt8],
        contentType: String = "application/json",
        format: MultiStatusFormat = .json,
        collection: ResourceCollection? = nil,
        headers: [(String, String)] = []
    ) async throws -> ReceivedMultiStatus {
        try await self.send(method, path, body: .bytes(body), contentType: contentType, format: format, collection: collection, headers: headers)
    }

    /// Sends `method path` with the client's credentials and returns the response as it comes,
    /// for answers that are not multi-status (a file, a `/limits` document).
    public func execute(
        _ method: HTTPMethod,
        _ path: String,
        body: HTTPClientRequest.Body? = nil,
        contentType: String = "application/json",
        accept: String? = nil,
        headers: [(String, String)] = [],
        timeout: TimeAmount = .seconds(600)
    ) async throws -> HTTPClientResponse {
        var request = HTTPClientRequest(url: self.baseURL + path)
        request.method = method
        if let accept { request.headers.add(name: "Accept", value: accept) }
        if let credentials { request.headers.add(name: "Authorization", value: credentials.authorization) }
        if let body {
            request.body = body
            request.headers.add(name: "Content-Type", value: contentType)
        }
        request.headers.add(contentsOf: headers)
        return try await self.httpClient.execute(request, timeout: timeout)
    }

    /// `GET path`, read as a multi-status answer.
    public func get(_ path: String, format: MultiStatusFormat = .json, collection: ResourceCollection? = nil) async throws -> ReceivedMultiStatus {
        try await self.send(.GET, path, format: format, collection: collection)
    }
}
