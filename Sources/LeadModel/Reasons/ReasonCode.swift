/// What the ledger knows of one reason code.
public struct ReasonCode: Sendable, Hashable, Codable {
    /// The code, e.g. `FIT_COMPANY.TOO_SMALL`.
    public var code: String
    /// The label people read.
    public var label: String
    /// Its category, e.g. `FIT_COMPANY`.
    public var category: String
    /// Whether a rejection with it must carry a note.
    public var requiresNote: Bool
    /// Whether it was retired (new rejections may not use it).
    public var retired: Bool
    /// The code reports map it to once retired.
    public var replacedBy: String?

    /// Creates a reason code record.
    public init(
        code: String, label: String, category: String, requiresNote: Bool = false, retired: Bool = false,
        replacedBy: String? = nil
    ) {
        self.code = code
        self.label = label
        self.category = category
        self.requiresNote = requiresNote
        self.retired = retired
        self.replacedBy = replacedBy
    }

    /// Whether `text` has the form `[A-Z0-9_]+(\.[A-Z0-9_]+)*`.
    public static func isWellFormed(_ text: String) -> Bool {
        var previousWasDot = true
        for byte in text.utf8 {
            if byte == UInt8(ascii: ".") {
                if previousWasDot { return false }
                previousWasDot = true
            } else if (0x41...0x5A).contains(byte) || (0x30...0x39).contains(byte) || byte == 0x5F {
                previousWasDot = false
            } else {
                return false
            }
        }
        return !previousWasDot
    }
}
