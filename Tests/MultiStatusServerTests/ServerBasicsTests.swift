import Foundation
import HTTPTypes
import HummingbirdTesting
import MultiStatus
import MultiStatusServer
import NIOCore
import Testing

@Suite struct ServerBasicsTests {
    @Test func unknownRouteIs404Problem() async throws {
        try await withServer { client, _ in
            try await client.execute(uri: "/nothing/here", method: .get) { response in
                #expect(response.status == .notFound)
                #expect(response.headers[.contentType] == "application/problem+json")
                let problem = try json(response.body)
                #expect(problem["detail"] as? String == "no resource at /nothing/here")
            }
        }
    }

    /// A path that exists, asked with a method it does not answer: 405 naming the ones it does.
    @Test func aMethodAPathDoesNotAnswerIs405WithAllow() async throws {
        try await withAccountsServer([.writer]) { client, _, _, _ in
            let cases: [(HTTPRequest.Method, String, String)] = [
                (.trace, "/health", "GET"),
                (.delete, "/limits", "GET"),
                (.put, "/users", "PATCH, POST, DELETE, GET"),
                (.post, "/users/7", "GET"),
                (.post, "/files/a/b.txt", "GET, HEAD, DELETE"),
            ]
            for (method, uri, allowed) in cases {
                let answer = try await dav(client, method, uri, headers: TestAccount.writer.headers)
                #expect(answer.status == .methodNotAllowed, "\(method) \(uri)")
                #expect(
                    answer.headers[.allow].map { Set($0.components(separatedBy: ", ")) } == Set(allowed.components(separatedBy: ", ")),
                    "\(method) \(uri)")
                #expect(answer.headers[.contentType] == "application/problem+json")
            }
            // Without credentials it is still 401 first, and a path no route matches is still 404.
            #expect(try await dav(client, .trace, "/users").status == .unauthorized)
            #expect(try await dav(client, .trace, "/nothing/here", headers: TestAccount.writer.headers).status == .notFound)
        }
    }

    @Test func bodyOverTheRequestLimitIs413Problem() async throws {
        try await withServer {
            $0.limits.bytesPerRequest = 100
        } _: { client, _ in
            try await client.execute(uri: "/livez", method: .post, body: ByteBuffer(repeating: 0x41, count: 101)) { response in
                #expect(response.status == .contentTooLarge)
                let problem = try json(response.body)
                #expect(problem["status"] as? Int == 413)
                #expect(problem["limit"] as? Int == 100)
            }
            // One byte under the limit gets past the limit (and then finds no POST route).
            try await client.execute(uri: "/livez", method: .post, body: ByteBuffer(repeating: 0x41, count: 100)) { response in
                #expect(response.status != .contentTooLarge)
            }
        }
    }

    @Test func limitsAreVisible() async throws {
        try await withServer {
            $0.limits.itemsPerBatch = 42
        } _: { client, _ in
            try await client.execute(uri: "/limits", method: .get) { response in
                let limits = try JSONDecoder().decode(Limits.self, from: Data(response.body.readableBytesView))
                #expect(limits.itemsPerBatch == 42)
                #expect(limits.filesPerRequest == 1_000)
                #expect(limits.bytesPerFile == 1 << 30)
                #expect(limits.bytesPerRequest == 10 << 30)
            }
        }
    }

    @Test func openAPIDocumentDescribesTheRoutes() async throws {
        try await withServer { client, _ in
            try await client.execute(uri: "/openapi.json", method: .get) { response in
                #expect(response.status == .ok)
                let document = try json(response.body)
                #expect((document["openapi"] as? String)?.hasPrefix("3.1") == true)
                let paths = try #require(document["paths"] as? [String: Any])
                for path in ["/check-statuses", "/livez", "/readyz", "/health", "/limits", "/upload", "/files/{path}", "/users", "/users/{id}"] {
                    #expect(paths[path] != nil, "\(path) missing from the OpenAPI document")
                }
                // Credentials: Basic and Bearer everywhere but the probes.
                let schemes = try #require((document["components"] as? [String: Any])?["securitySchemes"] as? [String: [String: Any]])
                #expect(schemes["basicAuth"]?["scheme"] as? String == "basic" && schemes["bearerAuth"]?["scheme"] as? String == "bearer")
                #expect((document["security"] as? [[String: Any]])?.count == 2)
                let livez = try #require((paths["/livez"] as? [String: Any])?["get"] as? [String: Any])
                #expect((livez["security"] as? [Any])?.isEmpty == true)
                let upload = try #require((paths["/upload"] as? [String: Any])?["post"] as? [String: Any])
                #expect(Set(((upload["responses"] as? [String: Any]) ?? [:]).keys).isSuperset(of: ["401", "403", "429"]))
            }
        }
    }

    @Test func databaseFileAndSchemaExistAfterStart() async throws {
        try await withServer { client, configuration in
            try await client.execute(uri: "/livez", method: .get)
            #expect(FileManager.default.fileExists(atPath: configuration.dataDirectory + "/multistatus.sqlite"))
        }
    }

    @Test func checkTargetsParse() throws {
        #expect(try StatusCheckTarget(parsing: "Cache=tcp://127.0.0.1:6379").endpoint == .tcp(host: "127.0.0.1", port: 6379))
        #expect(try StatusCheckTarget(parsing: "Search API=http://127.0.0.1:9200/_health").endpoint == .http("http://127.0.0.1:9200/_health"))
        #expect(try StatusCheckTarget(parsing: "X=https://x.test", isRequired: false).isRequired == false)
        for bad in ["Cache", "=http://x", "Cache=tcp://127.0.0.1", "Cache=ftp://x", "Cache=not a url"] {
            #expect(throws: ConfigurationError.self, "\(bad)") { try StatusCheckTarget(parsing: bad) }
        }
    }
}
