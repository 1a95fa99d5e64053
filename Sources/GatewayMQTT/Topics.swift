/// The MQTT topics under a prefix (default `ccm/v1`); docs/native-format.md § "MQTT topics".
public struct Topics: Sendable, Hashable {
    public let prefix: String

    public init(prefix: String = "ccm/v1") { self.prefix = prefix }

    /// What an inbound topic carries.
    public enum Inbound: Sendable, Hashable {
        /// `{prefix}/hub/{hub}/reading`: native readings.
        case reading(hub: String)
        /// `{prefix}/hub/{hub}/fhir`: FHIR R4 Observations.
        case fhir(hub: String)
        /// `{prefix}/hub/{hub}/gatt/{device}/{characteristic}`: a raw characteristic value.
        case gatt(hub: String, device: String, characteristic: String)
        /// `{prefix}/hub/{hub}/time`: a time entry for the CCM ledger.
        case time(hub: String)

        public var hub: String {
            switch self {
            case .reading(let hub), .fhir(let hub), .gatt(let hub, _, _), .time(let hub): hub
            }
        }
    }

    /// The subscriptions, each at QoS 1; behind `$share/{group}/` when several gateways share a
    /// broker.
    public func subscriptions(sharedGroup: String? = nil) -> [String] {
        ["reading", "fhir", "gatt/+/+", "time"].map { leaf in
            let filter = "\(prefix)/hub/+/\(leaf)"
            return sharedGroup.map { "$share/\($0)/\(filter)" } ?? filter
        }
    }

    /// Classifies an inbound topic, or `nil` for one the gateway does not take.
    public func classify(_ topic: String) -> Inbound? {
        guard topic.hasPrefix(prefix + "/hub/") else { return nil }
        let rest = topic.dropFirst(prefix.count + 5).split(separator: "/", omittingEmptySubsequences: false).map(
            String.init)
        guard rest.count >= 2, !rest[0].isEmpty else { return nil }
        let hub = rest[0]
        switch (rest[1], rest.count) {
        case ("reading", 2): return .reading(hub: hub)
        case ("fhir", 2): return .fhir(hub: hub)
        case ("time", 2): return .time(hub: hub)
        case ("gatt", 4) where !rest[2].isEmpty && !rest[3].isEmpty:
            return .gatt(hub: hub, device: rest[2], characteristic: rest[3].lowercased())
        default: return nil
        }
    }

    /// Where alert events for a patient are published.
    public func alerts(patient: String) -> String { "\(prefix)/alerts/\(patient)" }

    /// The gateway's retained online/offline status (its last will says offline).
    public func status(gateway: String) -> String { "\(prefix)/gateway/\(gateway)/status" }
}
