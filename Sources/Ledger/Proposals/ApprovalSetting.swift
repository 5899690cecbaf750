import EventLog
import Foundation
import LeadModel

/// The ledger setting naming the roles that must approve a proposal before it is published
/// (DESIGN §8.1); none by default, so existing histories and imports stay valid.
enum ApprovalSetting {
    /// The meta key; the value is the roles, comma-separated.
    static let key = "approval-roles"

    /// The roles of a stored setting, sorted and without repeats; none when unset.
    static func roles(setting bytes: [UInt8]?) -> [String] {
        guard let bytes else { return [] }
        let text = String(decoding: bytes, as: UTF8.self)
        return Set(text.split(separator: ",").map(String.init).filter(ProposalNames.isRole)).sorted()
    }
}

/// A setting that cannot be stored as asked.
public struct ApprovalSettingError: Error, Sendable, CustomStringConvertible {
    /// What is wrong.
    public let description: String
}

extension Ledger {
    /// The roles whose approval a publish needs (empty: a publish needs none).
    public var requiredApprovals: [String] { validation.requiredApprovals }

    /// Requires that every later `definition.published` name a proposal approved by each of `roles`
    /// (their latest review); an empty list lifts the requirement. Takes effect for this ledger
    /// object's next batch; another process (a running server) reads it when it next opens the ledger.
    public func setRequiredApprovals(_ roles: [String]) throws {
        for role in roles where !ProposalNames.isRole(role) {
            throw ApprovalSettingError(description: "\(JSONValue.string(role).jsonText) is not \(ProposalNames.roleForm)")
        }
        let sorted = Set(roles).sorted()
        try log.setMetaValue(Array(sorted.joined(separator: ",").utf8), for: ApprovalSetting.key)
        validation.requiredApprovals = sorted
    }
}
