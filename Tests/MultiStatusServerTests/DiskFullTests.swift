import Foundation
import HTTPTypes
import HummingbirdTesting
import MultiStatus
import NIOCore
import Testing

@testable import MultiStatusServer

/// Runs `body` with a data folder on a tmpfs of `bytes`, mounted for the test (the tests run as root).
private func withSmallDisk<T>(bytes: Int, _ body: (String) async throws -> T) async throws -> T {
    try await withTemporaryDirectory { folder in
        let disk = folder + "/disk"
        try FileManager.default.createDirectory(atPath: disk, withIntermediateDirectories: true)
        guard mount("tmpfs", disk, "tmpfs", 0, "size=\(bytes),mode=0755") == 0 else {
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EPERM, userInfo: [NSLocalizedDescriptionKey: "mount a tmpfs (run as root)"])
        }
        defer { umount2(disk, Int32(MNT_DETACH)) }
        return try await body(disk)
    }
}

/// A full disk: what does not fit is refused with 507, what fits is stored whole, nothing staged
/// is left behind, and the database goes on working.
@Suite struct DiskFullTests {
    @Test func aFullDiskRefusesWhatDoesNotFitAndKeepsTheRest() async throws {
        try await withSmallDisk(bytes: 4 << 20) { disk in
            try await withAccountsServer([.writer], { $0.dataDirectory = disk }) { client, configuration, _, _ in
                let headers = TestAccount.writer.headers
                let small1 = randomBytes(256 << 10)
                let small2 = randomBytes(256 << 10)
                let upload = MultipartBody([
                    .init(filename: "a.bin", content: small1), .init(filename: "big.bin", content: randomBytes(5 << 20)),
                    .init(filename: "c.bin", content: small2),
                ])
                var fields = headers
                fields[.contentType] = upload.contentType
                let (status, body) = try await client.execute(uri: "/upload", method: .post, headers: fields, body: upload.buffer) {
                    ($0.status, $0.body)
                }
                #expect(status == .multiStatus, "\(String(buffer: body))")
                let report = try read(body, .json, .files)
                let statuses = Dictionary(uniqueKeysWithValues: report.items.map { ($0.id.jsonText, $0.status.code) })
                #expect(statuses == ["\"a.bin\"": 201, "\"big.bin\"": 507, "\"c.bin\"": 201], "\(String(buffer: body))")
                let files = configuration.dataDirectory + "/files"
                #expect(FileManager.default.contents(atPath: files + "/a.bin") == Data(small1))
                #expect(FileManager.default.contents(atPath: files + "/c.bin") == Data(small2))
                #expect(!FileManager.default.fileExists(atPath: files + "/big.bin"))
                #expect(try FileManager.default.contentsOfDirectory(atPath: configuration.dataDirectory + "/tmp/uploads").isEmpty)

                // A WebDAV PUT that does not fit, replacing a file: 507, and the old bytes stay.
                let put = try await client.execute(
                    uri: "/dav/a.bin", method: .put, headers: headers, body: ByteBuffer(bytes: randomBytes(5 << 20))
                ) { ($0.status, String(buffer: $0.body)) }
                #expect(put.0 == .insufficientStorage, "\(put.1)")
                #expect(put.1.contains("application/problem+json") || put.1.contains("\"status\":507"), "\(put.1)")
                #expect(FileManager.default.contents(atPath: files + "/a.bin") == Data(small1))
                #expect(try FileManager.default.contentsOfDirectory(atPath: configuration.dataDirectory + "/tmp/uploads").isEmpty)

                // The database on the same disk still reads and writes.
                let created = try await client.execute(
                    uri: "/users", method: .post, headers: headers + [.contentType: "application/json"],
                    body: ByteBuffer(string: #"[{"name": "Ann", "email": "ann@example.com", "role": "member"}]"#)
                ) { ($0.status, String(buffer: $0.body)) }
                #expect(created.0 == .multiStatus && created.1.contains("\"status\":201"), "\(created.1)")
                #expect(try await client.execute(uri: "/users/1", method: .get, headers: headers) { $0.status } == .ok)
                #expect(try await client.execute(uri: "/livez", method: .get) { $0.status } == .ok)
            }
        }
    }
}
