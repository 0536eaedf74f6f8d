import NIOSSL

/// The PEM files of a TLS certificate chain and its private key.
public struct TLSFiles: Sendable, Hashable {
    /// The certificate, followed by any intermediates.
    public var certificatePath: String
    /// The private key.
    public var keyPath: String

    /// Creates the pair.
    public init(certificatePath: String, keyPath: String) {
        self.certificatePath = certificatePath
        self.keyPath = keyPath
    }
}

extension TLSConfiguration {
    /// A server configuration from PEM files, TLS 1.2 or later.
    /// - Throws: a ``ConfigurationError`` naming the file that cannot be used.
    static func server(_ files: TLSFiles) throws -> TLSConfiguration {
        let chain: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
        do {
            chain = try NIOSSLCertificate.fromPEMFile(files.certificatePath)
        } catch {
            throw ConfigurationError("--tls-cert \(files.certificatePath) is not a readable PEM certificate: \(error)")
        }
        do {
            key = try NIOSSLPrivateKey(file: files.keyPath, format: .pem)
        } catch {
            throw ConfigurationError("--tls-key \(files.keyPath) is not a readable PEM private key: \(error)")
        }
        guard !chain.isEmpty else { throw ConfigurationError("--tls-cert \(files.certificatePath) holds no certificate") }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        return configuration
    }
}
