#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// The payload formats the inbox holds. Each decodes to the same ``ReadingInput`` records.
public enum InputFormat: String, Sendable, CaseIterable, Codable {
    /// The native reading format v1 (``NativeReadingV1``).
    case nativeV1 = "native-v1"

    /// Decodes a payload: a whole-payload rejection, or one result per reading it holds.
    public func decode(_ payload: Data) -> Result<[Result<ReadingInput, Rejection>], Rejection> {
        switch self {
        case .nativeV1: NativeReadingV1.parse(payload)
        }
    }
}
