import Foundation
import LeadModel

enum Fixtures {
    static func uuid(_ n: Int) -> UUID {
        UUID(uuidString: String(format: "00000000-0000-4000-8000-%012x", n))!
    }

    static func time(_ text: String) -> Timestamp { Timestamp(rfc3339: text)! }

    /// One JSON line per event type, each exercising its optional fields.
    static let lines: [EventType: String] = [
        .leadCaptured:
            #"{"id":"0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a01","type":"lead.captured","lead":"00Q1","occurredAt":"2026-03-01T09:00:00+01:00","source":"hubspot","actor":"form:demo","correlationId":"c-1","data":{"channel":"paid_search","campaign":"spring","attributes":{"country":"US","employees":120,"opted_in":true,"phone":null}}}"#,
        .leadAttributesObserved:
            #"{"id":"0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a02","type":"lead.attributes_observed","lead":"00Q1","occurredAt":"2026-03-01T10:00:00Z","source":"hubspot","data":{"attributes":{"title":"VP Sales","country":null}}}"#,
        .leadScored:
            #"{"id":"0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a03","type":"lead.scored","lead":"00Q1","occurredAt":"2026-03-01T10:05:00.250Z","source":"hubspot","data":{"score":72.5,"model":"v3"}}"#,
        .leadHandedOff:
            #"{"id":"0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a04","type":"lead.handed_off","lead":"00Q1","occurredAt":"2026-03-01T11:00:00Z","source":"hubspot","data":{"owner":"rep:jsmith","definition":3}}"#,
        .leadAccepted:
            #"{"id":"0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a05","type":"lead.accepted","lead":"00Q1","occurredAt":"2026-03-02T08:00:00-05:00","source":"salesforce","data":{"by":"rep:jsmith","auto":false}}"#,
        .leadRejected:
            #"{"id":"0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a06","type":"lead.rejected","lead":"00Q5e00000AbCdE","occurredAt":"2026-03-02T14:05:00Z","source":"salesforce","actor":"rep:jsmith","data":{"reason":"FIT_COMPANY.TOO_SMALL","note":"12 employees","by":"rep:jsmith"}}"#,
        .leadRecycled:
            #"{"id":"0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a07","type":"lead.recycled","lead":"00Q1","occurredAt":"2026-03-03T14:05:00Z","source":"salesforce","data":{"reason":"INTENT_TIMING.NOT_NOW","note":"call in Q3"}}"#,
        .leadConverted:
            #"{"id":"0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a08","type":"lead.converted","lead":"00Q1","occurredAt":"2026-03-04T14:05:00Z","source":"salesforce","data":{"opportunity":"006A1","amount":12000,"currency":"EUR"}}"#,
        .leadClosed:
            #"{"id":"0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a09","type":"lead.closed","lead":"00Q1","occurredAt":"2026-04-04T14:05:00Z","source":"salesforce","data":{"won":false,"amount":0,"reason":"LOST.PRICE"}}"#,
        .leadRejectionCorrected:
            #"{"id":"0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a0a","type":"lead.rejection_corrected","lead":"00Q5e00000AbCdE","occurredAt":"2026-03-05T14:05:00Z","source":"salesforce","data":{"event":"0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a06","reason":"DUPLICATE.EXISTING_LEAD","note":"merged"}}"#,
        .reasonDefined:
            #"{"id":"0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a0b","type":"reason.defined","occurredAt":"2026-01-01T00:00:00Z","source":"revops","data":{"code":"OTHER.OTHER","label":"Other","category":"OTHER","requiresNote":true}}"#,
        .reasonRetired:
            #"{"id":"0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a0c","type":"reason.retired","occurredAt":"2026-02-01T00:00:00Z","source":"revops","data":{"code":"FIT.SMALL","replacedBy":"FIT_COMPANY.TOO_SMALL"}}"#,
        .definitionPublished:
            #"{"id":"0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a0d","type":"definition.published","occurredAt":"2026-02-15T00:00:00Z","source":"revops","actor":"user:ana","data":{"version":3,"name":"Q1 tightening","rules":{"all":[{"field":"score","gte":60},{"field":"country","in":["US","CA","GB"]},{"not":{"field":"email_domain","in":["gmail.com","yahoo.com"]}},{"any":[{"field":"employees","gte":50},{"field":"title","contains":"VP"}]}]},"effectiveAt":"2026-03-01T00:00:00+01:00","rationale":"too many small companies"}}"#,
        .leadForgotten:
            #"{"id":"0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a20","type":"lead.forgotten","lead":"00Q1","occurredAt":"2026-04-05T09:00:00Z","source":"leadledger","actor":"dpo:amartin","data":{"reason":"GDPR art. 17 request 2026-031"}}"#,
        .leadAssigned:
            #"{"id":"0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a0e","type":"lead.assigned","lead":"00Q1","occurredAt":"2026-03-01T12:00:00Z","source":"salesforce","data":{"owner":"rep:akim","team":"emea"}}"#,
        .leadTouched:
            #"{"id":"0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a0f","type":"lead.touched","lead":"00Q1","occurredAt":"2026-03-01T13:00:00Z","source":"salesforce","data":{"activity":"call","by":"rep:akim"}}"#,
        .slaPublished:
            #"{"id":"0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a10","type":"sla.published","occurredAt":"2026-02-20T00:00:00Z","source":"revops","data":{"version":1,"name":"Touch within a working day","effectiveAt":"2026-03-01T00:00:00+01:00","firstTouchWithin":8,"decisionWithin":40,"calendar":{"timeZone":"Europe/Paris","workdays":[1,2,3,4,5],"start":"09:00","end":"17:30","holidays":["2026-05-01"]}}}"#,
        .definitionProposed:
            #"{"id":"0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a11","type":"definition.proposed","occurredAt":"2026-02-10T09:00:00Z","source":"revops","actor":"user:ana","data":{"proposal":"q1-tightening","name":"Q1 tightening","rules":{"all":[{"field":"score","gte":60},{"field":"employees","gte":50}]},"rationale":"too many small companies","evidence":{"position":1200,"headHash":"3f0a2b9c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8","report":{"query":{"from":"2026-01-01"},"whatIf":{"candidates":[{"name":"Q1 tightening","rejectionRate":0.25}]}}}}}"#,
        .definitionReviewed:
            #"{"id":"0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a12","type":"definition.reviewed","occurredAt":"2026-02-11T15:30:00Z","source":"revops","actor":"user:sam","data":{"proposal":"q1-tightening","verdict":"declined","role":"sales","note":"too strict for EMEA"}}"#,
    ]

    static func event(_ type: EventType) -> LeadEvent {
        try! EventDecoder().decode(line: lines[type]!)
    }
}

/// Random events of every type, with every optional field sometimes absent.
struct RandomEvents {
    var rng: SplitMix64

    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }
    mutating func bool() -> Bool { Bool.random(using: &rng) }
    mutating func maybe<T>(_ make: (inout RandomEvents) -> T) -> T? { bool() ? make(&self) : nil }

    mutating func text(maxLength: Int = 12) -> String {
        let alphabet = Array("abcXYZ019 _-.é漢🙂\"\\\n")
        return String((0..<int(0...maxLength)).map { _ in alphabet[int(0...(alphabet.count - 1))] })
    }

    mutating func nonEmpty() -> String { "x" + text() }

    mutating func code() -> String {
        let parts = (0..<int(1...3)).map { _ in String((0..<int(1...6)).map { _ in Array("ABZ09_")[int(0...5)] }) }
        return parts.joined(separator: ".")
    }

    mutating func number() -> Double {
        switch int(0...3) {
        case 0: Double(int(-1000...1000))
        case 1: Double.random(in: -1e6...1e6, using: &rng)
        case 2: -0.0
        default: Double.random(in: 0...1, using: &rng) * 1e-7
        }
    }

    mutating func uuid() -> UUID {
        var bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &rng) }
        bytes[6] = bytes[6] & 0x0F | 0x40
        bytes[8] = bytes[8] & 0x3F | 0x80
        return UUID(
            uuid: (
                bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
            ))
    }

    mutating func timestamp() -> Timestamp {
        Timestamp(
            microseconds: Int64(int(-2_000_000_000...4_000_000_000)) * 1_000_000 + Int64(int(0...999_999)),
            utcOffsetSeconds: Int32(int(-14 * 4...14 * 4) * 15 * 60))
    }

    mutating func attribute() -> AttributeValue {
        switch int(0...3) {
        case 0: .string(text())
        case 1: .number(number())
        case 2: .bool(bool())
        default: .null
        }
    }

    mutating func attributes() -> [String: AttributeValue] {
        var out: [String: AttributeValue] = [:]
        for _ in 0..<int(0...5) { out[nonEmpty()] = attribute() }
        return out
    }

    mutating func rule(depth: Int = 0) -> MQLRule {
        let choice = depth > 2 ? 3 : int(0...5)
        switch choice {
        case 0: return .all((0..<int(0...3)).map { _ in rule(depth: depth + 1) })
        case 1: return .any((0..<int(0...3)).map { _ in rule(depth: depth + 1) })
        case 2: return .not(rule(depth: depth + 1))
        default:
            let field = ["score", "country", "employees", "title"][int(0...3)]
            let tests: [RuleTest] = [
                .eq(.string("US")), .gte(.number(Double(int(0...100)))), .in([.string("US"), .number(3)]),
                .contains("VP"), .exists(bool()), .nin([.bool(true)]), .lt(.string("m")),
            ]
            return .comparison(RuleComparison(field: field, tests[int(0...(tests.count - 1))]))
        }
    }

    mutating func payload(_ type: EventType) -> EventPayload {
        switch type {
        case .leadCaptured:
            .leadCaptured(.init(channel: nonEmpty(), campaign: maybe { $0.text() }, attributes: maybe { $0.attributes() }))
        case .leadAttributesObserved: .attributesObserved(.init(attributes: attributes()))
        case .leadScored: .leadScored(.init(score: number(), model: maybe { $0.text() }))
        case .leadHandedOff: .handedOff(.init(owner: nonEmpty(), definition: maybe { $0.int(1...1_000_000) }))
        case .leadAccepted: .accepted(.init(by: maybe { $0.text() }, auto: maybe { $0.bool() }))
        case .leadRejected: .rejected(.init(reason: code(), note: maybe { $0.text() }, by: maybe { $0.text() }))
        case .leadRecycled: .recycled(.init(reason: maybe { $0.code() }, note: maybe { $0.text() }))
        case .leadConverted:
            .converted(.init(opportunity: nonEmpty(), amount: maybe { $0.number() }, currency: maybe { _ in "USD" }))
        case .leadClosed: .closed(.init(won: bool(), amount: maybe { $0.number() }, reason: maybe { $0.code() }))
        case .leadRejectionCorrected: .rejectionCorrected(.init(event: uuid(), reason: code(), note: maybe { $0.text() }))
        case .reasonDefined:
            .reasonDefined(.init(code: code(), label: nonEmpty(), category: nonEmpty(), requiresNote: maybe { $0.bool() }))
        case .reasonRetired: .reasonRetired(.init(code: code(), replacedBy: maybe { $0.code() }))
        case .definitionPublished:
            .definitionPublished(
                .init(
                    version: int(1...1000), name: nonEmpty(), rules: rule(), effectiveAt: timestamp(),
                    rationale: maybe { $0.text() }, proposal: maybe { "p-\($0.int(1...1000))" }))
        case .leadForgotten: .forgotten(.init(reason: maybe { $0.text() }))
        case .leadAssigned: .assigned(.init(owner: nonEmpty(), team: maybe { $0.text() }))
        case .leadTouched:
            .touched(.init(activity: SalesActivity.allCases[int(0...(SalesActivity.allCases.count - 1))], by: maybe { $0.text() }))
        case .slaPublished: serviceLevel()
        case .definitionProposed:
            .definitionProposed(
                .init(
                    proposal: "p-\(int(1...1000))", name: nonEmpty(), rules: rule(), rationale: maybe { $0.text() },
                    evidence: maybe {
                        ProposalEvidence(
                            position: UInt64($0.int(1...1_000_000)), headHash: String(repeating: "ab", count: 32),
                            report: .object([JSONMember("rate", .number($0.number())), JSONMember("name", .string($0.text()))]))
                    }))
        case .definitionReviewed:
            .definitionReviewed(
                .init(
                    proposal: "p-\(int(1...1000))", verdict: bool() ? .approved : .declined, role: ["sales", "marketing"][int(0...1)],
                    note: maybe { $0.text() }))
        }
    }

    mutating func serviceLevel() -> EventPayload {
        let firstTouch = bool() ? Double(int(1...80)) / 2 : nil
        return .slaPublished(
            .init(
                version: int(1...1000), name: nonEmpty(), effectiveAt: timestamp(),
                firstTouchWithin: firstTouch, decisionWithin: firstTouch == nil ? Double(int(1...500)) : maybe { Double($0.int(1...500)) },
                calendar: BusinessCalendar(
                    timeZone: ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata"][int(0...3)],
                    workdays: Array(Set((0..<int(1...7)).map { _ in int(1...7) })).sorted(), startMinute: int(0...600),
                    endMinute: int(601...1440), holidays: maybe { _ in ["2026-12-25", "2027-01-01"] } ?? [])))
    }

    mutating func event() -> LeadEvent {
        let type = EventType.allCases[int(0...(EventType.allCases.count - 1))]
        return LeadEvent(
            id: uuid(), occurredAt: timestamp(), source: "src" + String(int(0...9)), actor: maybe { $0.text() },
            lead: type.isLeadEvent ? nonEmpty() : nil, correlationId: maybe { $0.text() }, payload: payload(type))
    }
}
