import Crypto
import Foundation

/// RFC 9562 version 5 (SHA-1, name-based) UUIDs: what other systems compute from the same
/// namespace and name, unlike the importers' ``DeterministicID``, which only LeadLedger reproduces.
public enum NameBasedUUID {
    /// The RFC 9562 namespace for names that are URLs (`6ba7b811-9dad-11d1-80b4-00c04fd430c8`).
    public static let urlNamespace = UUID(uuidString: "6ba7b811-9dad-11d1-80b4-00c04fd430c8")!

    /// The version 5 UUID of `name` (its UTF-8 bytes) within `namespace`.
    public static func v5(namespace: UUID, name: String) -> UUID {
        var hasher = Insecure.SHA1()
        withUnsafeBytes(of: namespace.uuid) { hasher.update(bufferPointer: $0) }
        hasher.update(data: Data(name.utf8))
        var bytes = Array(hasher.finalize().prefix(16))
        bytes[6] = (bytes[6] & 0x0F) | 0x50
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        return UUID(
            uuid: (
                bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
            ))
    }

    /// The event id of a CloudEvent whose `id` is not a UUID: CloudEvents ids are unique only within
    /// their `source`, so the source (a URI) names the namespace and the id is the name within it.
    public static func cloudEventID(source: String, id: String) -> UUID {
        v5(namespace: v5(namespace: urlNamespace, name: source), name: id)
    }
}
