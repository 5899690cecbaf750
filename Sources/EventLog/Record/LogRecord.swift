import Crypto
import Foundation

/// The stored form of one log record: a fixed 64-byte header followed by the payload.
///
/// ```
/// offset size  field
///      0    1  format version (1)
///      1    1  flags: bit 0 = belongs to a stream
///      2    2  reserved, zero
///      4    4  stream number (dense, 1-based; 0 = no stream), little-endian
///      8    8  recordedAt, microseconds since the Unix epoch, little-endian
///     16   16  event id (UUID bytes)
///     32   32  hash = SHA-256(previous hash ‖ position as UInt64 LE ‖ bytes 0..<32 ‖ payload)
///     64    …  payload, opaque to the log
/// ```
///
/// LMDB hands values out 2-byte aligned, so every multi-byte field is read with `loadUnaligned`.
public enum LogRecordLayout {
    /// The format version written in byte 0.
    public static let formatVersion: UInt8 = 1
    /// Size of the fixed header.
    public static let headerSize = 64
    /// Offset of the stream number.
    public static let streamOffset = 4
    /// Offset of `recordedAt`.
    public static let recordedAtOffset = 8
    /// Offset of the event id.
    public static let idOffset = 16
    /// Offset of the hash.
    public static let hashOffset = 32
    /// The hash before the first record.
    public static let genesisHash = [UInt8](repeating: 0, count: 32)

    /// Writes a header (without its hash) into the first 32 bytes of `buffer`.
    @inlinable
    public static func writeHeader(
        into buffer: UnsafeMutableRawBufferPointer, stream: UInt32, recordedAt: Int64, id: UUID
    ) {
        buffer[0] = formatVersion
        buffer[1] = stream == 0 ? 0 : 1
        buffer[2] = 0
        buffer[3] = 0
        buffer.storeBytes(of: stream.littleEndian, toByteOffset: streamOffset, as: UInt32.self)
        buffer.storeBytes(of: recordedAt.littleEndian, toByteOffset: recordedAtOffset, as: Int64.self)
        withUnsafeBytes(of: id.uuid) { idBytes in
            UnsafeMutableRawBufferPointer(rebasing: buffer[idOffset..<idOffset + 16]).copyMemory(from: idBytes)
        }
    }

    /// The chained hash of a record whose first 32 bytes and payload are in `record`.
    public static func chainHash(previous: UnsafeRawBufferPointer, position: UInt64, record: UnsafeRawBufferPointer) -> SHA256.Digest {
        var hasher = SHA256()
        hasher.update(bufferPointer: previous)
        var pos = position.littleEndian
        withUnsafeBytes(of: &pos) { hasher.update(bufferPointer: $0) }
        hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: record[0..<hashOffset]))
        hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: record[headerSize...]))
        return hasher.finalize()
    }
}

/// A zero-copy view of one stored record, valid only inside the closure that received it.
public struct RecordView {
    /// The record's position in the log.
    public let position: UInt64
    /// The whole stored value: header and payload.
    public let bytes: UnsafeRawBufferPointer

    /// Wraps a stored value.
    @inlinable
    public init(position: UInt64, bytes: UnsafeRawBufferPointer) {
        self.position = position
        self.bytes = bytes
    }

    /// Wraps a stored value after checking what every reader relies on: a whole header, a known
    /// format, flags that agree with the stream number and zero reserved bytes. A damaged record
    /// throws instead of being read past its end.
    @inlinable
    public init(checking bytes: UnsafeRawBufferPointer, at position: UInt64) throws(StoredDamage) {
        guard bytes.count >= LogRecordLayout.headerSize else {
            throw StoredDamage(
                table: "events", message: "the record at position \(position) is \(bytes.count) bytes, shorter than its header")
        }
        self.init(position: position, bytes: bytes)
        guard formatVersion == LogRecordLayout.formatVersion, bytes[1] == (streamNumber == 0 ? 0 : 1), bytes[2] == 0, bytes[3] == 0 else {
            throw StoredDamage(table: "events", message: "the record at position \(position) has a damaged header")
        }
    }

    /// The format version in byte 0.
    @inlinable public var formatVersion: UInt8 { bytes[0] }
    /// The dense stream number, 0 when the record has no stream.
    @inlinable public var streamNumber: UInt32 {
        UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: LogRecordLayout.streamOffset, as: UInt32.self))
    }
    /// When the log appended it, in microseconds since the Unix epoch.
    @inlinable public var recordedAt: Int64 {
        Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: LogRecordLayout.recordedAtOffset, as: Int64.self))
    }
    /// The 16 bytes of the event id.
    @inlinable public var idBytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[LogRecordLayout.idOffset..<LogRecordLayout.idOffset + 16])
    }
    /// The event id.
    public var id: UUID { UUID(uuidBytes: idBytes) }
    /// The 32 bytes of the chained hash.
    @inlinable public var hashBytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[LogRecordLayout.hashOffset..<LogRecordLayout.headerSize])
    }
    /// The payload, opaque to the log.
    @inlinable public var payload: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[LogRecordLayout.headerSize...])
    }
}

/// One record copied out of the log.
public struct StoredRecord: Sendable, Hashable {
    /// Its position: 1, 2, 3… in commit order.
    public let position: UInt64
    /// The event id, the idempotency key.
    public let id: UUID
    /// The stream (for LeadLedger: the lead) it belongs to, if any.
    public let stream: String?
    /// The dense number the log gave the stream.
    public let streamNumber: UInt32
    /// When the log appended it, in microseconds since the Unix epoch.
    public let recordedAt: Int64
    /// The chained SHA-256 hash, hex-encoded.
    public let hash: String
    /// The payload as appended.
    public let payload: [UInt8]

    /// Copies a stored value (header and payload) read at `position`, checking its header first, so a
    /// store that keeps the bytes elsewhere (PostgreSQL) reads them exactly as the LMDB log does.
    public init(position: UInt64, bytes: UnsafeRawBufferPointer, stream: String?) throws(StoredDamage) {
        self.init(try RecordView(checking: bytes, at: position), stream: stream)
    }

    init(_ view: RecordView, stream: String?) {
        self.position = view.position
        self.id = view.id
        self.stream = stream
        self.streamNumber = view.streamNumber
        self.recordedAt = view.recordedAt
        self.hash = view.hashBytes.hexString
        self.payload = Array(view.payload)
    }
}

extension UUID {
    /// Builds a UUID from 16 raw bytes.
    init(uuidBytes b: UnsafeRawBufferPointer) {
        self.init(uuid: (b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]))
    }
}

extension UnsafeRawBufferPointer {
    /// Lower-case hexadecimal.
    var hexString: String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(count * 2)
        for byte in self {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension Sequence where Element == UInt8 {
    /// Lower-case hexadecimal.
    var hexString: String { Array(self).withUnsafeBytes { $0.hexString } }
}

/// SHA-256 for the layers above the log (checkpoints), so they need no crypto dependency of their own.
public enum LogDigest {
    /// The 32 bytes of the SHA-256 digest of `bytes`.
    public static func sha256(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        Array(SHA256.hash(data: bytes))
    }
}
