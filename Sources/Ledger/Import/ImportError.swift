/// A refusal of bad import input, naming the file, the line and the column or field at fault.
///
/// `import error: olist_closed_deals_dataset.csv line 17: column "won_date": expected a date like
/// 2018-02-26 19:58:54, found "soon"`. An import either succeeds as a whole or throws this: a file
/// the importer cannot read completely is not half-imported.
public struct ImportError: Error, CustomStringConvertible, Sendable, Hashable {
    /// The file's name (its last path component), as the user knows it.
    public var file: String
    /// The 1-based physical line of the file, when the problem has one.
    public var line: Int?
    /// The column (CSV header name) or field at fault, when there is one.
    public var column: String?
    /// What is wrong, e.g. `expected a number, found "12k"`.
    public var message: String

    /// Creates an import error.
    public init(file: String, line: Int? = nil, column: String? = nil, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.message = message
    }

    /// The whole sentence, `import error: FILE line N: column "C": MESSAGE`.
    public var description: String {
        var text = "import error: \(file)"
        if let line { text += " line \(line)" }
        text += ": "
        if let column { text += "column \"\(column)\": " }
        return text + message
    }
}
