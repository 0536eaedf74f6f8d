public import HTTPTypes

extension HTTPResponse.Status {
    /// 207 Multi-Status (RFC 4918).
    public static let multiStatus = HTTPResponse.Status(code: 207, reasonPhrase: "Multi-Status")
    /// 423 Locked (RFC 4918).
    public static let locked = HTTPResponse.Status(code: 423, reasonPhrase: "Locked")
    /// 424 Failed Dependency (RFC 4918).
    public static let failedDependency = HTTPResponse.Status(code: 424, reasonPhrase: "Failed Dependency")
    /// 507 Insufficient Storage (RFC 4918).
    public static let insufficientStorage = HTTPResponse.Status(code: 507, reasonPhrase: "Insufficient Storage")

    private static let registered: [Int: HTTPResponse.Status] = Dictionary(
        uniqueKeysWithValues: [
            .ok, .created, .accepted, .nonAuthoritativeInformation, .noContent, .resetContent, .partialContent, .multiStatus,
            .multipleChoices, .movedPermanently, .found, .seeOther, .notModified, .temporaryRedirect, .permanentRedirect,
            .badRequest, .unauthorized, .forbidden, .notFound, .methodNotAllowed, .notAcceptable, .proxyAuthenticationRequired,
            .requestTimeout, .conflict, .gone, .lengthRequired, .preconditionFailed, .contentTooLarge, .uriTooLong,
            .unsupportedMediaType, .rangeNotSatisfiable, .expectationFailed, .misdirectedRequest, .unprocessableContent,
            .locked, .failedDependency, .tooEarly, .upgradeRequired, .preconditionRequired, .tooManyRequests,
            .requestHeaderFieldsTooLarge, .unavailableForLegalReasons, .internalServerError, .notImplemented, .badGateway,
            .serviceUnavailable, .gatewayTimeout, .httpVersionNotSupported, .insufficientStorage, .networkAuthenticationRequired,
        ].map { ($0.code, $0) }
    )

    /// The status for `code` with its registered reason phrase (empty for unregistered codes).
    /// - Parameter code: a status code, 100…999.
    public init(standardCode code: Int) {
        self = Self.registered[code] ?? HTTPResponse.Status(code: code)
    }

    /// The status line of RFC 4918's `D:status`: `HTTP/1.1 201 Created`.
    public var statusLine: String {
        "HTTP/1.1 \(self.code) \(self.reasonPhrase)"
    }
}
