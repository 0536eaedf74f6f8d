import Dispatch
import Foundation
import FuzzSupport
import Hummingbird
import Logging
import MultiStatus
import MultiStatusServer

/// The multipart upload reader, fed a whole request body with boundary `fuzz`, must end in a
/// problem or a batch without trapping, and leave no staged file once the batch is discarded.
let store: LocalFileStore = {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("multistatus-fuzz-multipart-\(getpid())").path
    return try! LocalFileStore(dataDirectory: folder, durability: .none, quotaBytes: 1 << 20, logger: Logger(label: "fuzz"))
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMultipart(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Fuzz.bytes(data, size)
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
