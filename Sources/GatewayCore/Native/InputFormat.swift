#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// The payload formats the inbox holds. Each decodes to the same ``ReadingInput`` records.
public enum InputFormat: Sendable, Hashable {
    /// The native reading format v1 (``NativeReadingV1``).
    case nativeV1
    /// FHIR R4 Observation or Bundle (``FHIRObservation``).
    case fhirR4
    /// A raw GATT characteristic value from a BLE-to-MQTT bridge (``HealthCharacteristic``).
    case gatt(characteristic: String, device: String)
    /// Time entries for the CCM ledger (``TimeEntryV1``); not readings, so the pipeline stores
    /// them apart.
    case timeEntryV1
    /// Something this version cannot read: kept in the inbox, rejected with the reason.
    case unsupported

    /// As stored in the inbox: `native-v1`, `fhir-r4`, `gatt:2a35:A4:C1:38:12:34:56`, `unsupported`.
    public var rawValue: String {
        switch self {
        case .nativeV1: "native-v1"
        case .fhirR4: "fhir-r4"
        case .gatt(let characteristic, let device): "gatt:\(characteristic):\(device)"
        case .timeEntryV1: "time-v1"
        case .unsupported: "unsupported"
        }
    }

    public init?(rawValue: String) {
        switch rawValue {
        case "native-v1": self = .nativeV1
        case "fhir-r4": self = .fhirR4
        case "time-v1": self = .timeEntryV1
        case "unsupported": self = .unsupported
        default:
            let parts = rawValue.split(separator: ":", maxSplits: 2).map(String.init)
            guard parts.count == 3, parts[0] == "gatt" else { return nil }
            self = .gatt(characteristic: parts[1], device: parts[2])
        }
    }

    /// Decodes a payload: a whole-payload rejection, or one result per reading it holds. `clock`
    /// places a device's wall-clock time (GATT Date Time fields carry no zone).
    public func decode(
        _ payload: Data, clock: @escaping HealthCharacteristic.Clock
    ) -> Result<DecodedPayload, Rejection> {
        switch self {
        case .nativeV1: NativeReadingV1.parse(payload)
        case .fhirR4: FHIRObservation.parse(payload)
        case .gatt(let characteristic, let device):
            .success(
                DecodedPayload(
                    items: [
                        HealthCharacteristic.decode(
                            characteristic: characteristic, device: device, bytes: HealthCharacteristic.bytes(payload),
                            clock: clock)
                    ], isBatch: false))
        case .timeEntryV1:
            .failure(
                Rejection(
                    .unsupportedFormat, field: nil,
                    "time entries are not readings; the pipeline stores them in the ledger"))
        case .unsupported:
            .failure(
                Rejection(
                    .unsupportedFormat, field: nil,
                    "this gateway version does not read this topic's payloads; upgrade it, or publish native readings"))
        }
    }
}

/// The readings of one payload, each decoded or rejected, in payload order.
public struct DecodedPayload: Sendable {
    public var items: [Result<ReadingInput, Rejection>]
    /// Whether the payload was an array: the field paths of its readings start with `[i]`.
    public var isBatch: Bool

    public init(items: [Result<ReadingInput, Rejection>], isBatch: Bool) {
        self.items = items
        self.isBatch = isBatch
    }

    /// A rejection of item `index` found after decoding (by the normalizer, the device check),
    /// with its field path placed under the item's position in a batch.
    public func locate(_ rejection: Rejection, item index: Int) -> Rejection {
        isBatch ? rejection.within("[\(index)]") : rejection
    }
}
