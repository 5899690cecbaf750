/// The log stream that holds catalog events (`reason.*`, `definition.published`), so an audit finds
/// every reason code and definition through one index lookup instead of a replay.
public enum CatalogStream {
    /// Longer than any lead id may be (128 bytes), so no lead can ever collide with it.
    public static let name = "leadledger.catalog:" + String(repeating: "~", count: 112)

    /// The stream an event belongs to: its lead, or the catalog stream.
    public static func stream(of event: LeadEvent) -> String {
        event.lead ?? name
    }
}
