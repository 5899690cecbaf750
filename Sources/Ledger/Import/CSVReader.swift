import Foundation

/// One data record of a CSV file.
struct CSVRow: Sendable {
    /// The physical line the record starts on (the header is line 1).
    var line: Int
    /// The fields, as many as the header has columns.
    var fields: [String]
}

/// A CSV file read whole: its header and its records.
struct CSVTable: Sendable {
    /// The file's name, for messages.
    var file: String
    /// The header's column names, trimmed of surrounding spaces.
    var header: [String]
    /// The data records in file order.
    var rows: [CSVRow]

    /// The index of column `name` (case-insensitive), or a refusal naming it.
    func column(_ name: String) throws(ImportError) -> Int {
        guard let index = optionalColumn(name) else {
            throw ImportError(
                file: file, line: 1,
                message: "missing required column \"\(name)\" (the header has \(header.map { "\"\($0)\"" }.joined(separator: ", ")))")
        }
        return index
    }

    /// The index of column `name` (case-insensitive) when the header has it.
    func optionalColumn(_ name: String) -> Int? {
        let wanted = name.lowercased()
        return header.firstIndex { $0.lowercased() == wanted }
    }
}

/// An RFC 4180 reader: quoted fields, doubled quotes, commas and line breaks inside quotes, CRLF or LF.
///
/// Written here rather than taken from a library so that every refusal can name the file, the line
/// and the column, which is what someone fixing a broken export needs. A UTF-8 byte order mark is
/// skipped; blank lines between records carry no data and are passed over.
enum CSVReader {
    /// Reads the file at `url`.
    static func read(_ url: URL) throws(ImportError) -> CSVTable {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw ImportError(file: url.lastPathComponent, message: "cannot read the file (\(error.localizedDescription))")
        }
        return try parse(data, file: url.lastPathComponent)
    }

    /// Parses CSV bytes; `file` names the source in messages.
    static func parse(_ data: Data, file: String) throws(ImportError) -> CSVTable {
        var bytes = [UInt8](data)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        var records: [CSVRow] = []
        var fields: [String] = []
        var field: [UInt8] = []
        var line = 1
        var recordLine = 1
        var quoteLine = 1
        var index = 0
        let count = bytes.count
        // `fieldStarted` separates "no field yet" from "an empty field" so that a blank line stays blank.
        var fieldStarted = false
        var header: [String]? = nil

        func columnName(_ position: Int) -> String {
            if let header, position < header.count { return header[position] }
            return "#\(position + 1)"
        }
        func endRecord() throws(ImportError) {
            if !fieldStarted && fields.isEmpty { return }
            fields.append(String(decoding: field, as: UTF8.self))
            field.removeAll(keepingCapacity: true)
            fieldStarted = false
            if let header {
                guard fields.count == header.count else {
                    throw ImportError(
                        file: file, line: recordLine,
                        message: "expected \(header.count) columns as in the header, found \(fields.count)")
                }
                records.append(CSVRow(line: recordLine, fields: fields))
            } else {
                header = fields.map { $0.trimmingCharacters(in: .whitespaces) }
            }
            fields.removeAll(keepingCapacity: true)
        }

        while index < count {
            let byte = bytes[index]
            if !fieldStarted && fields.isEmpty { recordLine = line }
            switch byte {
            case UInt8(ascii: "\""):
                guard field.isEmpty else {
                    // A quote inside an unquoted field is kept as text, as most writers produce it.
                    field.append(byte)
                    fieldStarted = true
                    index += 1
                    continue
                }
                fieldStarted = true
                quoteLine = line
                index += 1
                var closed = false
                while index < count {
                    let inner = bytes[index]
                    if inner == UInt8(ascii: "\"") {
                        if index + 1 < count && bytes[index + 1] == UInt8(ascii: "\"") {
                            field.append(inner)
                            index += 2
                            continue
                        }
                        index += 1
                        closed = true
                        break
                    }
                    if inner == UInt8(ascii: "\n") {
                        line += 1
                    } else if inner == UInt8(ascii: "\r") {
                        if index + 1 >= count || bytes[index + 1] != UInt8(ascii: "\n") { line += 1 }
                    }
                    field.append(inner)
                    index += 1
                }
                guard closed else {
                    throw ImportError(
                        file: file, line: quoteLine, column: columnName(fields.count),
                        message: "unterminated quoted field: the file ends inside the quotes opened on this line")
                }
                if index < count {
                    let next = bytes[index]
                    guard next == UInt8(ascii: ",") || next == UInt8(ascii: "\n") || next == UInt8(ascii: "\r") else {
                        let found = String(decoding: [next], as: UTF8.self)
                        throw ImportError(
                            file: file, line: line, column: columnName(fields.count),
                            message: "expected a comma or the end of the line after a closing quote, found \"\(found)\"")
                    }
                }
            case UInt8(ascii: ","):
                fields.append(String(decoding: field, as: UTF8.self))
                field.removeAll(keepingCapacity: true)
                fieldStarted = true
                index += 1
            case UInt8(ascii: "\r"), UInt8(ascii: "\n"):
                try endRecord()
                if byte == UInt8(ascii: "\r") && index + 1 < count && bytes[index + 1] == UInt8(ascii: "\n") {
                    index += 1
                }
                index += 1
                line += 1
            default:
                field.append(byte)
                fieldStarted = true
                index += 1
            }
        }
        try endRecord()
        guard let header else {
            throw ImportError(file: file, line: 1, message: "expected a header line, found an empty file")
        }
        return CSVTable(file: file, header: header, rows: records)
    }
}
