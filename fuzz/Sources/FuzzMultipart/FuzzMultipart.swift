import Dispatch
import Foundation
import FuzzSupport
import Hummingbird
import Logging
import MultiStatus
import MultiStatusServer
import NIOCore

/// The multipart upload reader, fed a whole request body with boundary `fuzz`, must end in a
/// problem or a batch without trapping, and leave no staged file once the batch is discarded.
/// And ``MultipartReader`` must read the same parts whatever the body is cut into: whole, in two
/// at a place the input chooses, and (for short inputs) byte by byte.
let store: LocalFileStore = {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("multistatus-fuzz-multipart-\(getpid())").path
    return try! LocalFileStore(dataDirectory: folder, durability: .none, quotaBytes: 1 << 20, logger: Logger(label: "fuzz"))
}()

/// What the reader makes of `chunks`: each part's fields and whole body, then how it ended.
func parts(_ chunks: [ArraySlice<UInt8>]) -> [String] {
    var reader = MultipartReader(boundary: "fuzz", maxFields: 8, maxBytes: 512)
    var read: [String] = []
    var body: [UInt8] = []
    do {
        for chunk in chunks {
            reader.append(ByteBuffer(bytes: chunk))
            while let event = try reader.next() {
                switch event {
                case .part(let fields): read.append("part \(fields.map { "\($0.name)=\($0.value)" })")
                case .body(let bytes): body += bytes.readableBytesView
                case .partEnd:
                    read.append("body \(body)")
                    body = []
                case .end: read.append("end")
                }
            }
        }
        read.append(reader.isComplete ? "complete" : "truncated, \(body.count) body bytes")
    } catch {
        read.append("refused: \(error)")
    }
    return read
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMultipart(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Fuzz.bytes(data, size)
    let cutAt = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
    let whole = parts([bytes[...]])
    Fuzz.check(parts([bytes[..<cutAt], bytes[cutAt...]]) == whole, "a cut at \(cutAt) changed what was read")
    if bytes.count <= 4096 {
        Fuzz.check(parts(bytes.indices.map { bytes[$0...$0] }) == whole, "reading byte by byte changed what was read")
    }
    let done = DispatchSemaphore(value: 0)
    Task {
        let limits = Limits(filesPerRequest: 16, bytesPerFile: 4096)
        // Half the inputs keep what the request carries, as an upload with an Idempotency-Key does.
        let batch = UploadBatch(
            store: store, limits: limits, options: .init(folder: .root, overwrite: false, atomic: false, fingerprinting: bytes.count % 2 == 0))
        // Cut the body in two, as a network would, at a place the input chooses.
        let cut = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
        let body = RequestBody(
            asyncSequence: AsyncStream { stream in
                stream.yield(ByteBuffer(bytes: bytes[..<cut]))
                stream.yield(ByteBuffer(bytes: bytes[cut...]))
                stream.finish()
            })
        do {
            _ = try await MultipartUpload.read(body, boundary: "fuzz", into: batch)
        } catch {
            Fuzz.check(error is ProblemDetails, "the reader failed with \(error), not a problem")
        }
        _ = batch.fingerprint
        await batch.discardAll()
        let left = (try? FileManager.default.contentsOfDirectory(atPath: store.staging)) ?? []
        Fuzz.check(left.isEmpty, "staged files left behind: \(left)")
        done.signal()
    }
    done.wait()
    return 0
}

#if !FUZZING
    /// A plain build replays the files or folders named on its command line.
    @main enum Replay {
        static func main() { Fuzz.replay { bytes in bytes.withUnsafeBufferPointer { _ = fuzzMultipart($0.baseAddress, $0.count) } } }
    }
#endif
