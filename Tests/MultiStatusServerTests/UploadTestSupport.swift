import Crypto
import Foundation
import NIOCore
import NIOPosix

/// Builds `multipart/form-data` bodies byte for byte, so tests control every header.
struct MultipartBody {
    struct Part {
        var name = "files"
        var filename: [UInt8]?
        var contentType: String?
        /// More header fields of the part (`Content-Digest`, `X-OC-Mtime` …).
        var fields: [(String, String)] = []
        var content: [UInt8]

        init(filename: String?, contentType: String? = nil, fields: [(String, String)] = [], content: [UInt8]) {
            self.filename = filename.map { Array($0.utf8) }
            self.contentType = contentType
            self.fields = fields
            self.content = content
        }

        init(rawFilename: [UInt8], content: [UInt8]) {
            self.filename = rawFilename
            self.content = content
        }
    }

    var boundary = "----multistatus-test-\(UUID().uuidString)"
    var parts: [Part]

    init(_ parts: [Part]) { self.parts = parts }

    var contentType: String { "multipart/form-data; boundary=\(self.boundary)" }

    /// The bytes up to (not including) part `index`'s content; with `bytes` the whole body.
    var bytes: [UInt8] {
        var out: [UInt8] = []
        for part in self.parts {
            out += Array("--\(self.boundary)\r\nContent-Disposition: form-data; name=\"\(part.name)\"".utf8)
            if let filename = part.filename { out += Array("; filename=\"".utf8) + filename + Array("\"".utf8) }
            out += Array("\r\n".utf8)
            if let type = part.contentType { out += Array("Content-Type: \(type)\r\n".utf8) }
            for (name, value) in part.fields { out += Array("\(name): \(value)\r\n".utf8) }
            out += Array("\r\n".utf8) + part.content + Array("\r\n".utf8)
        }
        return out + Array("--\(self.boundary)--\r\n".utf8)
    }

    var buffer: ByteBuffer { ByteBuffer(bytes: self.bytes) }
}

func file(_ text: String) -> [UInt8] { Array(text.utf8) }

func randomBytes(_ count: Int) -> [UInt8] {
    var generator = SystemRandomNumberGenerator()
    var bytes = [UInt8](repeating: 0, count: count)
    bytes.withUnsafeMutableBytes { buffer in
        var offset = 0
        while offset < buffer.count {
            var word = generator.next()
            let n = min(8, buffer.count - offset)
            withUnsafeBytes(of: &word) { buffer.baseAddress!.advanced(by: offset).copyMemory(from: $0.baseAddress!, byteCount: n) }
            offset += n
        }
    }
    return bytes
}

func sha256Hex(_ bytes: some Sequence<UInt8>) -> String {
    SHA256.hash(data: Array(bytes)).map { String(format: "%02x", $0) }.joined()
}

/// Files under `dir`, relative, recursively.
func filesOnDisk(_ dir: String) -> Set<String> {
    let enumerator = FileManager.default.enumerator(atPath: dir)
    var result: Set<String> = []
    while let path = enumerator?.nextObject() as? String {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: dir + "/" + path, isDirectory: &isDirectory), !isDirectory.boolValue { result.insert(path) }
    }
    return result
}

/// Writes raw bytes to a server and closes the connection without waiting: a client that goes away.
func sendRawAndDisconnect(port: Int, _ bytes: [UInt8], pause: Duration = .milliseconds(300)) async throws {
    let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port).get()
    try await channel.writeAndFlush(ByteBuffer(bytes: bytes)).get()
    try await Task.sleep(for: pause)
    try await channel.close()
}

/// Polls `condition` until it holds or `timeout` passes.
func eventually(timeout: Duration = .seconds(5), _ condition: () -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try await Task.sleep(for: .milliseconds(25))
    }
    return condition()
}

/// A loopback TCP connection for byte-exact HTTP exchanges (interim responses, partial bodies).
/// Its blocking calls run on NIO's thread pool, never on the cooperative threads the server needs.
final class RawConnection: @unchecked Sendable {
    // `fd` is set once in init and only read afterwards.
    private let fd: Int32

    init(port: Int) throws {
        self.fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(self.fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
        // A ceiling for a server that never answers, not a measure: a read ends when its marker arrives,
        // and under the full suite's load an fsync'd 4 MiB commit has taken over 5 s.
        var timeout = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(self.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(self.fd) }

    func send(_ bytes: [UInt8]) async throws {
        try await testBlockingPool.runIfActive { self.sendBlocking(bytes) }
    }

    func receive(until marker: String) async throws -> String {
        try await testBlockingPool.runIfActive { self.receiveBlocking(until: marker) }
    }

    /// Reads until the peer closes or 60 s pass; `closed` tells which.
    func receiveToEnd() async throws -> (text: String, closed: Bool) {
        try await testBlockingPool.runIfActive {
            var received: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 65_536)
            while true {
                let count = chunk.withUnsafeMutableBytes { recv(self.fd, $0.baseAddress, $0.count, 0) }
                if count <= 0 { return (String(decoding: received, as: UTF8.self), count == 0 || errno == ECONNRESET) }
                received += chunk[..<count]
            }
        }
    }

    private func sendBlocking(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { Glibc.send(self.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent <= 0 { return }
            offset += sent
        }
    }

    /// Reads until `marker` has arrived, the peer closes, or 60 s pass.
    private func receiveBlocking(until marker: String) -> String {
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while !String(decoding: received, as: UTF8.self).contains(marker) {
            let count = chunk.withUnsafeMutableBytes { recv(self.fd, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            received += chunk[..<count]
        }
        return String(decoding: received, as: UTF8.self)
    }
}
