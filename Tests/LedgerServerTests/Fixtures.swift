import Foundation
import LeadModel

/// Events built from their wire form, so the fixtures read like what clients send.
enum LeadEventFixture {
    static func decode(_ line: String) -> LeadEvent {
        do { return try EventDecoder().decode(line: line) } catch { fatalError("fixture does not decode: \(error)\n\(line)") }
    }

    static func captured(lead: String, id: UUID = UUID()) -> LeadEvent {
        decode(capturedEvent(id: id, lead: lead))
    }
}

/// Sixteen weeks of hand-offs and decisions with a definition change in week 8, so every chart
/// and the impact table have something to show.
enum DashboardFixture {
    static let reasons = [
        ("DATA.INVALID_EMAIL", "Email address is invalid"), ("FIT_COMPANY.TOO_SMALL", "Company too small"),
        ("INTENT_TIMING.NO_PROJECT", "No project in sight"), ("FIT_PERSON.NO_AUTHORITY", "Contact cannot buy"),
    ]

    static func events(weeks: Int = 16, perWeek: Int = 12) -> [LeadEvent] {
        let formatter = ISO8601DateFormatter()
        let monday = formatter.date(from: "2026-01-05T09:00:00Z")!
        func at(_ days: Double) -> String { formatter.string(from: monday.addingTimeInterval(days * 86_400)) }
        var lines: [String] = []
        func add(_ type: String, lead: String? = nil, _ occurredAt: String, _ data: String) {
            let leadField = lead.map { #","lead":"\#($0)""# } ?? ""
            lines.append(
                #"{"id":"\#(UUID().uuidString)","type":"\#(type)"\#(leadField),"occurredAt":"\#(occurredAt)","source":"crm","data":\#(data)}"#
            )
        }
        for (code, label) in reasons {
            add("reason.defined", at(-30), #"{"code":"\#(code)","label":"\#(label)","category":"\#(code.prefix { $0 != "." })"}"#)
        }
        add(
            "definition.published", at(-20),
            #"{"version":1,"name":"score 50+","rules":{"field":"score","gte":50},"effectiveAt":"\#(at(-10))"}"#)
        add(
            "definition.published", at(50),
            #"{"version":2,"name":"score 70+","rules":{"field":"score","gte":70},"effectiveAt":"\#(at(56))","rationale":"too many rejections"}"#
        )
        var n = 0
        for week in 0..<weeks {
            for index in 0..<perWeek {
                n += 1
                let lead = "D\(n)"
                let day = Double(week * 7) + Double(index % 5)
                let score = week < 8 ? 50 + (n * 7) % 40 : 70 + (n * 7) % 25
                add("lead.captured", lead: lead, at(day), #"{"channel":"\#(n % 2 == 0 ? "web" : "event")"}"#)
                add("lead.scored", lead: lead, at(day + 0.1), #"{"score":\#(score)}"#)
                add("lead.handed_off", lead: lead, at(day + 0.2), #"{"owner":"rep:\#(n % 3)"}"#)
                let rejected = (n % 5) < (week < 8 ? 2 : 1) || (week < 8 && n % 7 == 0)
                if rejected {
                    let (code, _) = reasons[n % reasons.count]
                    add("lead.rejected", lead: lead, at(day + 1), #"{"reason":"\#(code)","by":"rep:\#(n % 3)"}"#)
                } else if index % 6 != 5 {
                    add("lead.accepted", lead: lead, at(day + 0.5 + Double(n % 4)), #"{"by":"rep:\#(n % 3)"}"#)
                }
            }
        }
        return lines.map(LeadEventFixture.decode)
    }
}
