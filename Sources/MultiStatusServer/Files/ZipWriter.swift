import CMultiStatusSystem
import Foundation
import NIOCore

/// Writes a ZIP archive (PKWARE APPNOTE 6.3) front to back, for a stream: each entry is a local
/// header, its bytes as they are read, then a data descriptor with their CRC-32 and size, so
/// nothing is known in advance but the names; the central directory follows the last entry.
/// Entries are stored (method 0) or deflated (method 8). An entry of 4 GiB or more, an offset past
/// 4 GiB or more than 65,535 entries use the ZIP64 fields. Names are UTF-8 (flag bit 11).
///
/// The writer keeps, per entry, what the central directory needs (its name and a few numbers);
/// no byte of an entry's content.
struct ZipWriter {
    private struct Entry {
        var name: [UInt8]
        var offset: UInt64
        var crc: UInt32 = 0
        var size: UInt64 = 0
        var compressedSize: UInt64 = 0
        var deflated: Bool
        var time: UInt16
        var date: UInt16
        var isFolder: Bool
        var zip64: Bool
    }

    private var entries: [Entry] = []
    /// Bytes written so far.
    private(set) var offset: UInt64 = 0

    /// The sizes from which an entry needs ZIP64 fields: 4 GiB less a margin, decided before its bytes are read.
    private static let zip64Size: UInt64 = 0xFFFF_0000

    /// The local header of an entry `name` (a folder's ends in `/`) of about `size` bytes, its
    /// content deflated when `deflated`.
    mutating func begin(name: String, modified: Date, size: Int, isFolder: Bool, deflated: Bool = false) -> ByteBuffer {
        let (time, date) = Self.dosTime(modified)
        // Deflate may make an incompressible file a little larger: a wider margin.
        let zip64 = UInt64(size) >= (deflated ? 0xF000_0000 : Self.zip64Size)
        let entry = Entry(
            name: Array(name.utf8), offset: self.offset, deflated: deflated, time: time, date: date, isFolder: isFolder, zip64: zip64)
        var out = ByteBuffer()
        out.writeInteger(UInt32(0x0403_4b50), endianness: .little)
        out.writeInteger(UInt16(zip64 ? 45 : 20), endianness: .little)  // version needed
        out.writeInteger(UInt16(0x0808), endianness: .little)  // data descriptor follows; UTF-8 name
        out.writeInteger(UInt16(deflated ? 8 : 0), endianness: .little)
        out.writeInteger(time, endianness: .little)
        out.writeInteger(date, endianness: .little)
        out.writeInteger(UInt32(0), endianness: .little)  // CRC-32, in the descriptor
        out.writeInteger(UInt32(zip64 ? 0xFFFF_FFFF : 0), endianness: .little)
        out.writeInteger(UInt32(zip64 ? 0xFFFF_FFFF : 0), endianness: .little)
        out.writeInteger(UInt16(entry.name.count), endianness: .little)
        out.writeInteger(UInt16(zip64 ? 20 : 0), endianness: .little)
        out.writeBytes(entry.name)
        if zip64 {
            out.writeInteger(UInt16(0x0001), endianness: .little)
            out.writeInteger(UInt16(16), endianness: .little)
            out.writeInteger(UInt64(0), endianness: .little)
            out.writeInteger(UInt64(0), endianness: .little)
        }
        self.entries.append(entry)
        self.offset += UInt64(out.readableBytes)
        return out
    }

    /// The CRC-32 of the current entry's content so far, to continue with ``crc32(_:continuing:)``.
    var crc: UInt32 { self.entries.last?.crc ?? 0 }

    /// Counts `count` more bytes of the current entry's content, whose CRC-32 with all before them
    /// is `crc`, and `written` bytes written for them after its header (as many when stored).
    mutating func wrote(count: Int, crc: UInt32, written: Int? = nil) {
        guard !self.entries.isEmpty else { return }
        self.entries[self.entries.count - 1].crc = crc
        self.entries[self.entries.count - 1].size += UInt64(count)
        self.entries[self.entries.count - 1].compressedSize += UInt64(written ?? count)
        self.offset += UInt64(written ?? count)
    }

    /// The data descriptor that ends the current entry.
    mutating func end() -> ByteBuffer {
        guard let entry = self.entries.last else { return ByteBuffer() }
        var out = ByteBuffer()
        out.writeInteger(UInt32(0x0807_4b50), endianness: .little)
        out.writeInteger(entry.crc, endianness: .little)
        if entry.zip64 {
            out.writeInteger(entry.compressedSize, endianness: .little)
            out.writeInteger(entry.size, endianness: .little)
        } else {
            out.writeInteger(UInt32(truncatingIfNeeded: entry.compressedSize), endianness: .little)
            out.writeInteger(UInt32(truncatingIfNeeded: entry.size), endianness: .little)
        }
        self.offset += UInt64(out.readableBytes)
        return out
    }

    /// The central directory and the end records: the archive's last bytes.
    mutating func finish() -> ByteBuffer {
        var out = ByteBuffer()
        let directoryOffset = self.offset
        for entry in self.entries {
            let large = entry.zip64 || entry.size >= 0xFFFF_FFFF || entry.compressedSize >= 0xFFFF_FFFF
            let far = entry.offset >= 0xFFFF_FFFF
            var extra = ByteBuffer()
            if large || far {
                extra.writeInteger(UInt16(0x0001), endianness: .little)
                extra.writeInteger(UInt16((large ? 16 : 0) + (far ? 8 : 0)), endianness: .little)
                if large {
                    extra.writeInteger(entry.size, endianness: .little)
                    extra.writeInteger(entry.compressedSize, endianness: .little)
                }
                if far { extra.writeInteger(entry.offset, endianness: .little) }
            }
            out.writeInteger(UInt32(0x0201_4b50), endianness: .little)
            out.writeInteger(UInt16(3 << 8 | 45), endianness: .little)  // made by: Unix, 4.5
            out.writeInteger(UInt16(large || far ? 45 : 20), endianness: .little)
            out.writeInteger(UInt16(0x0808), endianness: .little)
            out.writeInteger(UInt16(entry.deflated ? 8 : 0), endianness: .little)
            out.writeInteger(entry.time, endianness: .little)
            out.writeInteger(entry.date, endianness: .little)
            out.writeInteger(entry.crc, endianness: .little)
            out.writeInteger(large ? UInt32(0xFFFF_FFFF) : UInt32(entry.compressedSize), endianness: .little)
            out.writeInteger(large ? UInt32(0xFFFF_FFFF) : UInt32(entry.size), endianness: .little)
            out.writeInteger(UInt16(entry.name.count), endianness: .little)
            out.writeInteger(UInt16(extra.readableBytes), endianness: .little)
            out.writeInteger(UInt16(0), endianness: .little)  // comment
            out.writeInteger(UInt16(0), endianness: .little)  // disk
            out.writeInteger(UInt16(0), endianness: .little)  // internal attributes
            let mode: UInt32 = entry.isFolder ? 0o040755 : 0o100644
            out.writeInteger(mode << 16 | (entry.isFolder ? 0x10 : 0), endianness: .little)
            out.writeInteger(far ? UInt32(0xFFFF_FFFF) : UInt32(entry.offset), endianness: .little)
            out.writeBytes(entry.name)
            out.writeBuffer(&extra)
        }
        let directorySize = UInt64(out.readableBytes)
        let count = UInt64(self.entries.count)
        let zip64 = count >= 0xFFFF || directoryOffset >= 0xFFFF_FFFF || directorySize >= 0xFFFF_FFFF
        if zip64 {
            let recordOffset = directoryOffset + directorySize
            out.writeInteger(UInt32(0x0606_4b50), endianness: .little)
            out.writeInteger(UInt64(44), endianness: .little)
            out.writeInteger(UInt16(3 << 8 | 45), endianness: .little)
            out.writeInteger(UInt16(45), endianness: .little)
            out.writeInteger(UInt32(0), endianness: .little)
            out.writeInteger(UInt32(0), endianness: .little)
            out.writeInteger(count, endianness: .little)
            out.writeInteger(count, endianness: .little)
            out.writeInteger(directorySize, endianness: .little)
            out.writeInteger(directoryOffset, endianness: .little)
            out.writeInteger(UInt32(0x0706_4b50), endianness: .little)
            out.writeInteger(UInt32(0), endianness: .little)
            out.writeInteger(recordOffset, endianness: .little)
            out.writeInteger(UInt32(1), endianness: .little)
        }
        out.writeInteger(UInt32(0x0605_4b50), endianness: .little)
        out.writeInteger(UInt16(0), endianness: .little)
        out.writeInteger(UInt16(0), endianness: .little)
        out.writeInteger(UInt16(min(count, 0xFFFF)), endianness: .little)
        out.writeInteger(UInt16(min(count, 0xFFFF)), endianness: .little)
        out.writeInteger(UInt32(min(directorySize, 0xFFFF_FFFF)), endianness: .little)
        out.writeInteger(UInt32(min(directoryOffset, 0xFFFF_FFFF)), endianness: .little)
        out.writeInteger(UInt16(0), endianness: .little)
        self.offset += UInt64(out.readableBytes)
        return out
    }

    /// The CRC-32 of `bytes`, continuing `crc` (zlib's).
    static func crc32(_ bytes: ByteBuffer, continuing crc: UInt32 = 0) -> UInt32 {
        bytes.withUnsafeReadableBytes { multistatus_crc32(crc, $0.baseAddress, $0.count) }
    }

    /// MS-DOS time and date, in UTC; before 1980 is 1980.
    static func dosTime(_ date: Date) -> (time: UInt16, date: UInt16) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        let year = min(max((parts.year ?? 1980) - 1980, 0), 127)
        let time = UInt16((parts.hour ?? 0) << 11 | (parts.minute ?? 0) << 5 | (parts.second ?? 0) / 2)
        let day = UInt16(year << 9 | (parts.month ?? 1) << 5 | (parts.day ?? 1))
        return (time, day)
    }
}
