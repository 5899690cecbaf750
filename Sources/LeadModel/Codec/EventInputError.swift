/// Why an event as sent cannot be read: names the line, the event id, the field, what was expected and what was found.
public struct EventInputError: Error, CustomStringConvertible, Sendable, Hashable {
    /// A kind of input problem; more kinds may be added, so switch with a default.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case malformedJSON, missingField, wrongType, invalidValue, unknownType, forbiddenField
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The text is not JSON.
        public static var malformedJSON: Self { Self(.malformedJSON) }
        /// A required field is absent.
        public static var missingField: Self { Self(.missingField) }
        /// A field holds the wrong kind of JSON value.
        public static var wrongType: Self { Self(.wrongType) }
        /// A field has the right kind but a value outside its rules.
        public static var invalidValue: Self { Self(.invalidValue) }
        /// `type` is not one of the known event types.
        public static var unknownType: Self { Self(.unknownType) }
        /// A field a client must not send (`position`, `recordedAt`, `hash`, or `lead` on a non-lead event).
        public static var forbiddenField: Self { Self(.forbiddenField) }

        /// The code's name, e.g. `missingField`.
        public var description: String { base.rawValue }
    }

    /// The kind of problem.
    public var code: Code
    /// The 1-based line of the batch, when the input had lines.
    public var line: Int?
    /// The event's `id` as sent, when it was a string (it may not be a valid UUID).
    public var eventId: String?
    /// The dotted path of the field, e.g. `data.reason`; nil for the whole event.
    public var field: String?
    /// What was expected, in words.
    public var expected: String
    /// What was found, as shown to the user (`"too small"`, `42`, `nothing`).
    public var found: String

    /// Creates an input error.
    public init(code: Code, line: Int? = nil, eventId: String? = nil, field: String? = nil, expected: String, found: String) {
        self.code = code
        self.line = line
        self.eventId = eventId
        self.field = field
        self.expected = expected
        self.found = found
    }

    /// `line 3, event 0b9f…: field "data.reason": expected a reason code like FIT_COMPANY.TOO_SMALL, found "too small"`.
    public var description: String {
        issueDescription(line: line, eventId: eventId, field: field, expected: expected, found: found, hint: nil)
    }
}

/// The one sentence shape shared by input errors and validation issues.
func issueDescription(line: Int?, eventId: String?, field: String?, expected: String, found: String, hint: String?) -> String {
    var context: [String] = []
    if let line { context.append("line \(line)") }
    if let eventId { context.append("event \(eventId)") }
    var text = context.isEmpty ? "" : context.joined(separator: ", ") + ": "
    if let field { text += "field \"\(field)\": " }
    text += "expected \(expected), found \(found)"
    if let hint { text += " (\(hint))" }
    return text
}
