#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// The native reading format, version 1 (docs/native-format.md; JSON Schema in
/// `schemas/native-reading-v1.schema.json`): one JSON object, or an array of them.
///
/// Unknown top-level fields are rejected, not ignored. Each rejection names the field.
public enum NativeReadingV1 {
    /// Top-level fields, in the order the specification lists them.
    public static let fields = ["v", "device", "kind", "measured_at", "unit", "values", "meal", "seq", "id"]

    /// Longest message id accepted (device ids follow ``EntityID``).
    public static let maxIdentifierLength = 128

    /// Why a reading with none of `measured_at`, `seq` and `id` is refused. Its identity would
    /// be nothing but its values, and the same values legitimately recur (two equal pulse
    /// readings), while a re-ingested file or an MQTT redelivery (QoS 1 is at least once; the
    /// packet id is reused and is not seen by the client after a reconnect) brings the same
    /// reading again: only the publisher can say which one it is.
    public static let identityMissing =
        "a reading needs measured_at, seq or id, so that the same reading sent again (a re-ingest, an MQTT redelivery) is stored once; add the device's time of the measurement, its record number or a message id unique to the reading"

    /// The outcome of parsing one payload: a whole-payload rejection (not JSON, not an object or
    /// array, an empty array), or one result per reading in payload order.
    public static func parse(_ payload: Data) -> Result<DecodedPayload, Rejection> {
        let json: JSONValue
        do {
            json = try JSONValue.parse(input: payload, expected: "one JSON object (or an array of them) per line")
        } catch {
            return .failure(error)
        }
        switch json {
        case .object(let object):
            return .success(DecodedPayload(items: [reading(from: object)], isBatch: false))
        case .array(let items):
            guard !items.isEmpty else {
                return .failure(Rejection(.emptyBatch, field: nil, "empty array: send at least one reading"))
            }
            return .success(
                DecodedPayload(
                    items: items.enumerated().map { index, item in
                        guard case .object(let object) = item else {
                            return .failure(
                                Rejection(
                                    .notAnObject, field: "[\(index)]", "expected a reading object, got \(item.typeName)"
                                ))
                        }
                        return reading(from: object).mapError { $0.within("[\(index)]") }
                    }, isBatch: true))
        default:
            return .failure(
                Rejection(
                    .notAnObject, field: nil, "expected a reading object or an array of them, got \(json.typeName)"))
        }
    }

    /// Validates one reading object.
    public static func reading(from object: [String: JSONValue]) -> Result<ReadingInput, Rejection> {
        Result { () throws(Rejection) in try decode(object) }
    }

    private static func decode(_ object: [String: JSONValue]) throws(Rejection) -> ReadingInput {
        if let unknown = object.keys.sorted().first(where: { !fields.contains($0) }) {
            throw Rejection(
                .unknownField, field: unknown,
                "unknown field; the native format v1 allows \(Rejection.quote(fields)) (remove it or fix its spelling)")
        }
        switch object["v"] {
        case nil:
            throw Rejection(.missingField, field: "v", "required; add \"v\": 1")
        case .number(1):
            break
        case .number(let other):
            throw Rejection(
                .unsupportedVersion, field: "v",
                "version \(formatNumber(other)) is not supported; this gateway reads version 1")
        case let other?:
            throw Rejection(.wrongType, field: "v", "expected the number 1, got \(other.typeName)")
        }
        let device = try string(
            object, "device", required: "add the device's id (its Bluetooth address or the hub's id for it)")!
        if let rejection = EntityID.rejection(DeviceID.canonical(device), .device, field: "device") { throw rejection }
        let kindText = try string(
            object, "kind", required: "add one of \(Rejection.quote(ReadingKind.allCases.map(\.rawValue)))")!
        guard let kind = ReadingKind(rawValue: kindText) else {
            throw Rejection(
                .unknownKind, field: "kind",
                "unknown kind \"\(kindText)\"; use one of \(Rejection.quote(ReadingKind.allCases.map(\.rawValue)))")
        }
        let unitText = try string(
            object, "unit", required: "add the unit of the values: \(Rejection.quote(kind.nativeUnits.map(\.rawValue)))"
        )!
        guard let unit = MeasurementUnit(spelling: unitText), kind.nativeUnits.contains(unit) else {
            throw Rejection.wrongUnit(unitText, kind: kind, allowed: kind.nativeUnits)
        }
        guard let valuesJSON = object["values"] else {
            throw Rejection(
                .missingField, field: "values",
                "required; add an object with \(Rejection.quote(kind.requiredQuantities.map(\.rawValue)))")
        }
        guard case .object(let valuesObject) = valuesJSON else {
            throw Rejection(.wrongType, field: "values", "expected an object, got \(valuesJSON.typeName)")
        }
        var values: [Quantity: Double] = [:]
        for key in valuesObject.keys.sorted() {
            guard let quantity = Quantity(rawValue: key), kind.allowedQuantities.contains(quantity) else {
                throw Rejection.disallowedQuantity(key, kind: kind)
            }
            guard case .number(let number) = valuesObject[key]! else {
                throw Rejection(
                    .wrongType, field: "values.\(key)", "expected a number, got \(valuesObject[key]!.typeName)")
            }
            values[quantity] = number
        }
        var meal: MealContext?
        if let mealText = try string(object, "meal") {
            guard kind == .glucose else {
                throw Rejection(.unknownField, field: "meal", "only glucose readings carry a meal context; remove it")
            }
            guard let parsed = MealContext(rawValue: mealText) else {
                throw Rejection(
                    .invalidValue, field: "meal",
                    "unknown meal context \"\(mealText)\"; use one of \(Rejection.quote(MealContext.allCases.map(\.rawValue)))"
                )
            }
            meal = parsed
        }
        var measuredAt: Date?
        if let text = try string(object, "measured_at") {
            guard let date = RFC3339.parse(text) else {
                throw Rejection(
                    .invalidTimestamp, field: "measured_at",
                    "\"\(text)\" is not an RFC 3339 time with an offset; write it like 2026-03-04T07:42:10-06:00")
            }
            measuredAt = date
        }
        var sequence: Int?
        switch object["seq"] {
        case nil, .null?:
            break
        case .number(let n)? where n >= 0 && n == n.rounded() && n <= 9_007_199_254_740_991:
            sequence = Int(n)
        case let other?:
            throw Rejection(
                .wrongType, field: "seq",
                "expected a whole number 0 or more (the device's record number), got \(describe(other))")
        }
        let messageID = try identifier(object, "id")
        guard measuredAt != nil || sequence != nil || messageID != nil else {
            throw Rejection(.missingField, field: "measured_at", identityMissing)
        }
        return ReadingInput(
            device: device, kind: kind, unit: unit, values: values, measuredAt: measuredAt, meal: meal,
            sequence: sequence, messageID: messageID)
    }

    private static func describe(_ value: JSONValue) -> String {
        if case .number(let n) = value { return formatNumber(n) }
        return value.typeName
    }

    /// A string field; `required` is the fix to name when it is missing (`nil`: optional). It is
    /// worded only then: the fixes that list the allowed kinds or units were built for every
    /// reading before.
    private static func string(
        _ object: [String: JSONValue], _ field: String, required: @autoclosure () -> String? = nil
    ) throws(Rejection) -> String? {
        switch object[field] {
        case nil, .null?:
            if let required = required() { throw Rejection(.missingField, field: field, "required; \(required)") }
            return nil
        case .string(let text)?:
            return text
        case let other?:
            throw Rejection(.wrongType, field: field, "expected a string, got \(other.typeName)")
        }
    }

    private static func identifier(
        _ object: [String: JSONValue], _ field: String, required: @autoclosure () -> String? = nil
    ) throws(Rejection) -> String? {
        guard let text = try string(object, field, required: required()) else { return nil }
        guard !text.isEmpty, text.utf8.count <= maxIdentifierLength, !text.contains(where: \.isNewline) else {
            throw Rejection(
                .invalidValue, field: field,
                "must be 1 to \(maxIdentifierLength) characters on one line")
        }
        return text
    }
}
