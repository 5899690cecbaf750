import Foundation

/// A reason code as a `reason.defined` event defines it.
public typealias ReasonDefinition = EventPayload.ReasonDefined

/// A starter set of rejection and loss reasons, grouped in the categories sales teams commonly use.
public enum StarterTaxonomy {
    /// The categories, in display order.
    public static let categories = [
        "DATA", "DUPLICATE", "EXISTING_RELATIONSHIP", "FIT_COMPANY", "FIT_PERSON", "NOT_A_BUYER", "INTENT_TIMING",
        "UNREACHABLE", "LOST", "COMPLIANCE", "OTHER",
    ]

    /// The starter reason codes.
    public static var reasons: [ReasonDefinition] {
        func reason(_ code: String, _ label: String, note: Bool = false) -> ReasonDefinition {
            let category = String(code.prefix(while: { $0 != "." }))
            return ReasonDefinition(code: code, label: label, category: category, requiresNote: note)
        }
        return [
            reason("DATA.INVALID_EMAIL", "Email address is invalid or bounces"),
            reason("DATA.INVALID_PHONE", "Phone number is invalid"),
            reason("DATA.FAKE", "Fake or junk submission"),
            reason("DATA.INCOMPLETE", "Too little information to act on"),
            reason("DUPLICATE.EXISTING_LEAD", "Duplicate of an existing lead"),
            reason("DUPLICATE.EXISTING_CONTACT", "Already a contact in the CRM"),
            reason("EXISTING_RELATIONSHIP.CUSTOMER", "Already a customer"),
            reason("EXISTING_RELATIONSHIP.OPEN_OPPORTUNITY", "Account has an open opportunity"),
            reason("EXISTING_RELATIONSHIP.PARTNER", "Partner or reseller"),
            reason("FIT_COMPANY.TOO_SMALL", "Company too small"),
            reason("FIT_COMPANY.WRONG_INDUSTRY", "Industry we do not serve"),
            reason("FIT_COMPANY.UNSUPPORTED_REGION", "Region we do not sell in"),
            reason("FIT_COMPANY.COMPETITOR", "Competitor"),
            reason("FIT_PERSON.NO_AUTHORITY", "No buying authority or influence"),
            reason("FIT_PERSON.STUDENT", "Student or researcher"),
            reason("FIT_PERSON.JOB_SEEKER", "Job seeker"),
            reason("NOT_A_BUYER.VENDOR", "Vendor selling to us"),
            reason("NOT_A_BUYER.PERSONAL_USE", "Personal, non-business use"),
            reason("INTENT_TIMING.NO_BUDGET", "No budget"),
            reason("INTENT_TIMING.NOT_NOW", "Interested, but not this quarter"),
            reason("INTENT_TIMING.NO_PROJECT", "No active project or need"),
            reason("INTENT_TIMING.CONTENT_ONLY", "Wanted the content only"),
            reason("UNREACHABLE.NO_RESPONSE", "No response after the follow-up sequence"),
            reason("UNREACHABLE.WRONG_CONTACT", "Contact details reach the wrong person"),
            reason("UNREACHABLE.LEFT_COMPANY", "Left the company"),
            reason("LOST.PRICE", "Lost on price"),
            reason("LOST.COMPETITOR", "Chose a competitor"),
            reason("LOST.NO_DECISION", "No decision made"),
            reason("LOST.FEATURES", "Missing features"),
            reason("COMPLIANCE.NO_CONSENT", "No marketing consent", note: false),
            reason("COMPLIANCE.SANCTIONED", "Sanctioned party or embargoed country", note: true),
            reason("COMPLIANCE.DO_NOT_CONTACT", "Asked not to be contacted"),
            reason("OTHER.TEST_LEAD", "Internal or test submission"),
            reason("OTHER.OTHER", "Other", note: true),
        ]
    }

    /// `reason.defined` events for every starter reason, with ids derived from `idSeed` and each code, so
    /// loading the taxonomy twice appends nothing the second time.
    public static func events(
        source: String, occurredAt: Timestamp, idSeed: String = "leadledger.starter-taxonomy"
    )
        -> [LeadEvent]
    {
        reasons.map { reason in
            LeadEvent(
                id: nameBasedUUID(idSeed + "\u{0}" + reason.code), occurredAt: occurredAt, source: source,
                payload: .reasonDefined(reason))
        }
    }

    /// A deterministic UUID (RFC 9562 version 8, name-based) from two FNV-1a 64-bit hashes of `name`.
    public static func nameBasedUUID(_ name: String) -> UUID {
        func fnv1a(_ basis: UInt64) -> UInt64 {
            var hash = basis
            for byte in name.utf8 {
                hash ^= UInt64(byte)
                hash = hash &* 0x0000_0100_0000_01B3
            }
            return hash
        }
        let high = fnv1a(0xCBF2_9CE4_8422_2325)
        let low = fnv1a(0x84222325_CBF29CE4 ^ 0x9E37_79B9_7F4A_7C15)
        var bytes = [UInt8](repeating: 0, count: 16)
        for index in 0..<8 {
            bytes[index] = UInt8(truncatingIfNeeded: high >> (56 - 8 * UInt64(index)))
            bytes[8 + index] = UInt8(truncatingIfNeeded: low >> (56 - 8 * UInt64(index)))
        }
        bytes[6] = bytes[6] & 0x0F | 0x80
        bytes[8] = bytes[8] & 0x3F | 0x80
        return UUID(
            uuid: (
                bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8], bytes[9],
                bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
            ))
    }
}
