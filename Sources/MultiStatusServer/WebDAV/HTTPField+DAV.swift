import HTTPTypes

/// The header fields of WebDAV (RFC 4918 section 10) and of the clients it serves.
extension HTTPField.Name {
    static let dav = Self("DAV")!
    static let depth = Self("Depth")!
    static let destination = Self("Destination")!
    static let overwrite = Self("Overwrite")!
    static let davIf = Self("If")!
    static let lockToken = Self("Lock-Token")!
    static let timeout = Self("Timeout")!
    static let msAuthorVia = Self("MS-Author-Via")!
    static let ocMtime = Self("X-OC-Mtime")!
    static let win32LastModifiedTime = Self("Win32LastModifiedTime")!
}
