import Foundation
import Synchronization

/// A progress bar on standard error: bytes and files sent, rate and time left, redrawn five
/// times a second on one line. Only shown on a terminal (``Terminal/progress``).
final class Progress: Sendable {
    private struct State {
        var bytes = 0
        var files = 0
    }
    private let state = Mutex(State())
    private let totalFiles: Int
    private let totalBytes: Int
    private let started = ContinuousClock.now
    private let drawing = Mutex<Task<Void, Never>?>(nil)

    init(files: Int, bytes: Int) {
        self.totalFiles = files
        self.totalBytes = bytes
    }

    func sent(_ bytes: Int) { self.state.withLock { $0.bytes += bytes } }
    func fileDone() { self.state.withLock { $0.files += 1 } }

    /// Starts redrawing.
    func start() {
        let task = Task {
            while !Task.isCancelled {
                Terminal.error("\r\u{1B}[K" + self.line())
                try? await Task.sleep(for: .milliseconds(200))
            }
        }
        self.drawing.withLock { $0 = task }
    }

    /// Draws the last state and ends the line.
    func stop() {
        self.drawing.withLock { $0?.cancel() }
        Terminal.error("\r\u{1B}[K" + self.line() + "\n")
    }

    /// `[#######-------]  45%  12.3/27.0 MiB  120/300 files  8.1 MiB/s  0:04 left`
    func line() -> String {
        let (bytes, files) = self.state.withLock { (min($0.bytes, self.totalBytes), min($0.files, self.totalFiles)) }
        let fraction = self.totalBytes > 0 ? Double(bytes) / Double(self.totalBytes) : Double(files) / Double(max(self.totalFiles, 1))
        let width = 24
        let filled = Int(fraction * Double(width))
        let elapsed = (ContinuousClock.now - self.started) / .seconds(1)
        let rate = elapsed > 0 ? Double(bytes) / elapsed : 0
        let left = rate > 0 ? Int(Double(self.totalBytes - bytes) / rate) : 0
        let mib = { (value: Int) in String(format: "%.1f", Double(value) / 1_048_576) }
        return "[" + String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled) + "] "
            + String(format: "%3d%%", Int(fraction * 100)) + "  \(mib(bytes))/\(mib(self.totalBytes)) MiB  \(files)/\(self.totalFiles) files  "
            + "\(mib(Int(rate))) MiB/s  \(left / 60):" + String(format: "%02d", left % 60) + " left"
    }
}
