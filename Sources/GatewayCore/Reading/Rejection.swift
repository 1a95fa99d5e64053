/// Why an input was refused, naming the field and what would fix it.
///
/// The ``description`` is what is stored as the inbox reason and printed by `ccmctl`; tests
/// assert it exactly, so it changes only on purpose.
public struct Rejection: Error, Sendable, Hashable, CustomStringConvertible {
    /// Machine-readable class of the rejection, stable for scripts and metrics.
    public enum Code: String, Sendable, CaseIterable {
        case malformedJSON = "malformed_json"
        case duplicateKey = "duplicate_key"
        case malformedValue = "malformed_value"
        case notAnObject = "not_an_object"
        case emptyBatch = "empty_batch"
        case tooLarge = "too_large"
        case unknownField = "unknown_field"
        case missingField = "missing_field"
        case wrongType = "wrong_type"
        case unsupportedVersion = "unsupported_version"
        case unknownKind = "unknown_kind"
        case wrongUnit = "wrong_unit"
        case invalidValue = "invalid_value"
        case invalidTimestamp = "invalid_timestamp"
        case noValue = "no_value"
        case implausible = "implausible"
        case inconsistent = "inconsistent"
        case wrongHub = "wrong_hub"
        /// The input came through a hub the operator disabled.
        case hubDisabled = "hub_disabled"
        /// A time entry names staff who are not registered, are disabled, or have another role.
        case unknownStaff = "unknown_staff"
        case unsupportedFormat = "unsupported_format"
        /// The device itself said the measurement failed (a strip, sample-size or sensor error).
        case deviceError = "device_error"
    }

    public let code: Code
    /// The JSON path of the offending field (`values.systolic`, `[2].unit`), if one is to blame.
    public let field: String?
    /// What is wrong and how to fix it.
    public let message: String

    public init(_ code: Code, field: String?, _ message: String) {
        self.code = code
        self.field = field
        self.message = message
    }

    public var description: String {
        guard let field else { return message }
        return "\(field): \(message)"
    }

    /// The same rejection with its field path placed under `prefix` (an array element).
    public func within(_ prefix: String) -> Rejection {
        Rejection(code, field: field.map { $0.hasPrefix("[") ? prefix + $0 : prefix + "." + $0 } ?? prefix, message)
    }
}

extension Rejection {
    static func quote(_ names: some Sequence<String>) -> String {
        names.joined(separator: ", ")
    }

    static func disallowedQuantity(_ key: String, kind: ReadingKind) -> Rejection {
        Rejection(
            .unknownField, field: "values.\(key)",
            "\(kind.rawValue) readings have no value \"\(key)\"; use \(quote(kind.allowedQuantities.map(\.rawValue)))")
    }

    static func missingQuantity(_ quantity: Quantity, kind: ReadingKind) -> Rejection {
        Rejection(
            .missingField, field: "values.\(quantity.rawValue)",
            "required for \(kind.rawValue) readings; add it (a number in the reading's unit)")
    }

    static func wrongUnit(_ unit: String, kind: ReadingKind, allowed: [MeasurementUnit]) -> Rejection {
        Rejection(
            .wrongUnit, field: "unit",
            "\"\(unit)\" is not a unit for \(kind.rawValue); use \(quote(allowed.map(\.rawValue)))")
    }
}

/// Shortest decimal text for a number: `142`, `7.8`, `-0.5` (no trailing `.0`).
public func formatNumber(_ value: Double, fractionDigits: Int? = nil) -> String {
    if let fractionDigits {
        var scale = 1.0
        for _ in 0..<fractionDigits { scale *= 10 }
        let rounded = (value * scale).rounded() / scale
        return formatNumber(rounded)
    }
    if value.isFinite, value == value.rounded(), abs(value) < 1e15 {
        return String(Int64(value))
    }
    return String(value)
}
