#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// The payload formats the inbox holds. Each decodes to the same ``ReadingInput`` records.
public enum InputFormat: String, Sendable, CaseIterable, Codable {
    /// The native reading format v1 (``NativeReadingV1``).
    case nativeV1 = "native-v1"
    /// Something this version cannot read: kept in the inbox, rejected with the reason.
    case unsupported

    /// Decodes a payload: a whole-payload rejection, or one result per reading it holds.
    public func decode(_ payload: Data) -> Result<DecodedPayload, Rejection> {
        switch self {
        case .nativeV1: NativeReadingV1.parse(payload)
        case .unsupported:
            .failure(Rejection(.unsupportedFormat, field: nil, "this gateway version does not read this topic's payloads; upgrade it, or publish native readings"))
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
