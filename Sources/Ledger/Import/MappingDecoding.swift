import Foundation
import LeadModel

/// Any JSON key, to find the keys a mapping file has that its type does not know.
struct AnyCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) {
        stringValue = String(intValue)
        self.intValue = intValue
    }
}

extension KeyedDecodingContainer {
    /// The value at `key`, or `fallback` when the key is absent: a mapping file states only what differs.
    func value<T: Decodable>(_ key: Key, or fallback: T) throws -> T {
        try decodeIfPresent(T.self, forKey: key) ?? fallback
    }
}

/// Loading and checking of the JSON mapping files.
enum MappingFile {
    /// Refuses keys the mapping type does not know: a misspelt key would otherwise be ignored silently.
    static func refuseUnknownKeys(_ decoder: any Decoder, known: [String]) throws {
        let container = try decoder.container(keyedBy: AnyCodingKey.self)
        for key in container.allKeys where !known.contains(key.stringValue) {
            throw DecodingError.dataCorrupted(
                DecodingError.Context(
                    codingPath: [key],
                    debugDescription: "expected one of \(known.joined(separator: ", ")), found unknown key"))
        }
    }

    /// Decodes a mapping from the JSON file at `url`, naming the file and key of any problem.
    static func load<T: Decodable>(_ type: T.Type, from url: URL) throws(ImportError) -> T {
        let name = url.lastPathComponent
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw ImportError(file: name, message: "cannot read the mapping (\(error.localizedDescription))")
        }
        return try decode(type, from: data, file: name)
    }

    /// Decodes a mapping from JSON bytes; `file` names them in messages.
    static func decode<T: Decodable>(_ type: T.Type, from data: Data, file: String) throws(ImportError) -> T {
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch let error as DecodingError {
            throw ImportError(file: file, message: describe(error))
        } catch let error as ImportError {
            throw error
        } catch {
            throw ImportError(file: file, message: "expected a JSON mapping, found an unreadable document (\(error))")
        }
    }

    private static func path(_ codingPath: [any CodingKey]) -> String {
        codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }

    private static func describe(_ error: DecodingError) -> String {
        switch error {
        case .typeMismatch(let type, let context):
            return "key \"\(path(context.codingPath))\": expected \(describe(type)), found another kind of value"
        case .valueNotFound(let type, let context):
            return "key \"\(path(context.codingPath))\": expected \(describe(type)), found null"
        case .keyNotFound(let key, let context):
            return "key \"\(path(context.codingPath + [key]))\": expected a value, found none"
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty { return "expected a JSON object, found malformed JSON" }
            return "key \"\(path(context.codingPath))\": \(context.debugDescription)"
        @unknown default:
            return "expected a valid mapping (\(error))"
        }
    }

    private static func describe(_ type: Any.Type) -> String {
        if type == String.self { return "a string" }
        if type == [String].self { return "an array of strings" }
        if type == [String: String].self { return "an object of strings" }
        if type == Bool.self { return "a boolean" }
        return "a value of type \(type)"
    }

    /// Checks that each code has the reason-code form; `key` names where it sits in the mapping.
    static func checkCode(_ code: String, key: String, file: String) throws(ImportError) {
        guard ReasonCode.isWellFormed(code) else {
            throw ImportError(
                file: file, message: "key \"\(key)\": expected a reason code like FIT_COMPANY.TOO_SMALL, found \"\(code)\"")
        }
    }

    /// Adds `values` to a status table, refusing a value listed under two meanings.
    static func add(
        _ values: [String], as signal: StatusSignal, key: String, to table: inout [String: StatusSignal], file: String
    ) throws(ImportError) {
        for value in values {
            let normalised = HistoryRules.key(value)
            if let existing = table[normalised], existing != signal {
                throw ImportError(
                    file: file, message: "key \"\(key)\": expected each status value under one meaning, found \"\(value)\" twice")
            }
            table[normalised] = signal
        }
    }
}

extension MappingFile {
    /// Rejection reason values (matched case-insensitively) to codes, each code checked.
    static func reasonTable(_ reasons: [String: String], file: String) throws(ImportError) -> [String: String] {
        var table: [String: String] = [:]
        for (value, code) in reasons {
            try checkCode(code, key: "rejectionReasons.\(value)", file: file)
            table[HistoryRules.key(value)] = code
        }
        return table
    }

    /// Source values (matched case-insensitively) to channel ids.
    static func channelTable(_ channels: [String: String]) -> [String: String] {
        var table: [String: String] = [:]
        for (value, channel) in channels { table[HistoryRules.key(value)] = channel }
        return table
    }

    /// The roles both exports give their fields: attributes, owner, channel, campaign, score,
    /// opportunity and rejection reason.
    static func commonRoles(
        attributes: [String: String], numeric: [String], owners: [String], channel: String?, campaign: String?,
        score: String?, opportunity: String?, rejectionReason: String?
    ) -> [String: FieldRole] {
        var roles: [String: FieldRole] = [:]
        for (field, name) in attributes { roles[HistoryRules.key(field)] = .attribute(name: name, numeric: numeric.contains(name)) }
        for field in owners { roles[HistoryRules.key(field)] = .owner }
        if let channel { roles[HistoryRules.key(channel)] = .channel }
        if let campaign { roles[HistoryRules.key(campaign)] = .campaign }
        if let score { roles[HistoryRules.key(score)] = .score }
        if let opportunity { roles[HistoryRules.key(opportunity)] = .opportunity }
        if let rejectionReason { roles[HistoryRules.key(rejectionReason)] = .rejectionReason }
        return roles
    }
}
