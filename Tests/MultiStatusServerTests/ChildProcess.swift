import CChildProcess
import Foundation
import Synchronization

/// A child process for the tests, with the part of `Process`'s interface they use, spawned so
/// that it inherits no descriptor but its standard three.
///
/// Foundation's `Process` on Linux is unfit for a test process that runs many servers at once:
/// - it lists `/proc/self/fd` to close descriptors in the child, copying each entry's whole
///   256-byte name out of readdir's buffer; with some 1,400 descriptors open that read ran past
///   the buffer's page and crashed the whole test run (SIGSEGV in `Process.run()`);
/// - it learns that the child ended when a socket it hands down closes, so a daemon the child
///   leaves behind (`pg_ctl start`'s server) held it open and `waitUntilExit()` never returned.
final class ChildProcess: @unchecked Sendable {
    // Configured before `run()` and read-only afterwards; the exit status is behind its own lock.
    var executableURL: URL?
    var arguments: [String] = []
    /// `nil`: this process's environment.
    var environment: [String: String]?
    var currentDirectoryURL: URL?
    /// A `Pipe` (the child gets its reading end) or a `FileHandle`; `nil` inherits this process's.
    var standardInput: Any?
    /// A `Pipe` (the child gets its writing end) or a `FileHandle`; `nil` inherits this process's.
    var standardOutput: Any?
    var standardError: Any?

    private(set) var processIdentifier: pid_t = 0
    private let status = Mutex<Int32?>(nil)

    /// Spawns the child.
    func run() throws {
        guard let path = self.executableURL?.path else { throw POSIXError(.ENOENT) }
        // Foundation's null device handle has no descriptor of its own.
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { if null >= 0 { close(null) } }
        let environment = (self.environment ?? ProcessInfo.processInfo.environment).map { "\($0)=\($1)" }
        let input = Self.descriptor(self.standardInput, reading: true, default: STDIN_FILENO, null: null)
        let output = Self.descriptor(self.standardOutput, reading: false, default: STDOUT_FILENO, null: null)
        let error = Self.descriptor(self.standardError, reading: false, default: STDERR_FILENO, null: null)
        let pid = Self.withCStrings([path] + self.arguments) { argv in
            Self.withCStrings(environment) { envp in
                multistatus_spawn(path, argv, envp, self.currentDirectoryURL?.path, input, output, error)
            }
        }
        guard pid > 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        self.processIdentifier = pid
        // The child has its ends of the pipes; this process keeps only its own.
        (self.standardInput as? Pipe)?.fileHandleForReading.closeFile()
        (self.standardOutput as? Pipe)?.fileHandleForWriting.closeFile()
        (self.standardError as? Pipe)?.fileHandleForWriting.closeFile()
    }

    /// Whether the child has not ended yet; reaps it when it has.
    var isRunning: Bool {
        guard self.status.withLock({ $0 }) == nil else { return false }
        var raw: Int32 = 0
        let reaped = waitpid(self.processIdentifier, &raw, WNOHANG)
        if reaped == self.processIdentifier { self.status.withLock { $0 = raw } }
        return reaped == 0
    }

    /// Blocks until the child has ended.
    func waitUntilExit() {
        while self.status.withLock({ $0 }) == nil {
            var raw: Int32 = 0
            let reaped = waitpid(self.processIdentifier, &raw, 0)
            if reaped == self.processIdentifier {
                self.status.withLock { $0 = raw }
            } else if reaped == -1 && errno != EINTR {
                // Reaped meanwhile by `isRunning` on another thread, which records the status.
                usleep(1_000)
            }
        }
    }

    /// Sends SIGTERM.
    func terminate() { kill(self.processIdentifier, SIGTERM) }

    /// Sends SIGINT.
    func interrupt() { kill(self.processIdentifier, SIGINT) }

    /// The exit code, or the signal that ended the child.
    var terminationStatus: Int32 {
        let raw = self.status.withLock { $0 } ?? 0
        return raw & 0x7f == 0 ? (raw >> 8) & 0xff : raw & 0x7f
    }

    /// How the child ended.
    var terminationReason: Process.TerminationReason {
        (self.status.withLock { $0 } ?? 0) & 0x7f == 0 ? .exit : .uncaughtSignal
    }

    private static func descriptor(_ stream: Any?, reading: Bool, default standard: Int32, null: Int32) -> Int32 {
        switch stream {
        case let pipe as Pipe: reading ? pipe.fileHandleForReading.fileDescriptor : pipe.fileHandleForWriting.fileDescriptor
        case let handle as FileHandle where handle === FileHandle.nullDevice: null
        case let handle as FileHandle: handle.fileDescriptor
        default: standard
        }
    }

    private static func withCStrings<T>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> T) -> T {
        let pointers = strings.map { strdup($0) } + [nil]
        defer { pointers.forEach { free($0) } }
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}
