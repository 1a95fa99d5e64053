#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// A reading in canonical units with both time axes, ready to be stored and evaluated.
public struct NormalizedReading: Sendable, Hashable {
    public var device: String
    public var kind: ReadingKind
    /// Values in each quantity's canonical unit.
    public var values: [Quantity: Double]
    /// The values and unit exactly as received.
    public var originalValues: [Quantity: Double]
    public var originalUnit: MeasurementUnit
    /// The device clock, as sent (kept even when suspect).
    public var measuredAt: Date?
    /// The gateway clock when the input reached the inbox.
    public var receivedAt: Date
    /// The device time is before 2015 or more than 10 minutes after `receivedAt`.
    public var clockSuspect: Bool
    /// A suspect device time put right by the device clock's offset, when the session measured
    /// it (the device's Current Time read on connection) and the result is believable.
    public var correctedAt: Date? = nil
    public var meal: MealContext?
    public var sequence: Int?
    public var messageID: String?
    /// Identity for folding duplicates; `nil` when the input carries nothing to identify it by.
    public var dedupKey: DedupKey?
    /// Remarks worth keeping with the accepted input (why the clock is suspect, …).
    public var notes: [String]
    /// What the device said about the measurement (``ReadingFlag``), in a stable order.
    public var flags: [ReadingFlag] = []
    /// The user index of a multi-user device, when it sent one.
    public var userIndex: Int? = nil
    public var sampleType: String? = nil
    public var sampleLocation: String? = nil
    /// A glucose control-solution test: stored as a control test, never as a reading.
    public var controlSolution = false
    /// The meter's record epoch the sequence number belongs to (part of the identity).
    public var epoch: Int? = nil

    /// The flags that make a blood-pressure value unreliable (body movement, loose cuff, improper
    /// position): such a reading is stored and shown but left out of threshold, n-of-m and
    /// average rules.
    public var unreliableBecause: [ReadingFlag] { flags.filter(\.makesUnreliable) }

    /// The time the reading is evaluated and billed at: the device time when present and
    /// believable, otherwise the receive time.
    public var effectiveAt: Date {
        guard let measuredAt, !clockSuspect else { return correctedAt ?? receivedAt }
        return measuredAt
    }

    /// Whether rules that look at a window of time or at the last N readings may count this
    /// reading. A suspect device clock says nothing about when the reading was taken: a meter
    /// whose clock runs years ahead and hands over its whole memory must not count as that many
    /// readings taken the moment they arrived. Such a reading is still checked on its own
    /// (single-reading thresholds), and kept, with the reason, for people to see. A suspect time
    /// the session could correct counts at its corrected time.
    public var windowed: Bool { (!clockSuspect || correctedAt != nil) && unreliableBecause.isEmpty }

    /// The device time as it can be stored: `nil` when there is none or it lies outside
    /// ``ClockRules/storable`` (then ``measuredAtText`` keeps it).
    public var storedMeasuredAt: Date? {
        guard let measuredAt, ClockRules.storable.contains(measuredAt) else { return nil }
        return measuredAt
    }

    /// The device time as text when it cannot be stored as a time.
    public var measuredAtText: String? {
        guard let measuredAt, !ClockRules.storable.contains(measuredAt) else { return nil }
        return RFC3339.format(measuredAt)
    }
}

/// Identity of a reading (docs/data-flow.md § "Dedup keys"): (device, record epoch, glucose
/// sequence number) for glucometers that number their records, else (device, kind, measured_at),
/// else (device, kind, publisher id), else (device, kind, the device's record number).
public struct DedupKey: Sendable, Hashable, CustomStringConvertible {
    public let description: String

    /// `epoch`: the meter's record epoch (``NormalizedReading/epoch``); 0 or `nil` is the
    /// first numbering, keyed as before epochs existed.
    public init?(
        device: String, kind: ReadingKind, measuredAt: Date?, sequence: Int?, messageID: String?, epoch: Int? = nil
    ) {
        if kind == .glucose, let sequence {
            if let epoch, epoch > 0 {
                description = "\(device)|glucose|epoch:\(epoch)|seq:\(sequence)"
            } else {
                description = "\(device)|glucose|seq:\(sequence)"
            }
        } else if let measuredAt {
            description = "\(device)|\(kind.rawValue)|at:\(RFC3339.format(measuredAt))"
        } else if let messageID {
            description = "\(device)|\(kind.rawValue)|id:\(messageID)"
        } else if let sequence {
            description = "\(device)|\(kind.rawValue)|seq:\(sequence)"
        } else {
            return nil
        }
    }
}

/// The clock rules (docs/native-format.md § "Times").
public enum ClockRules {
    /// Device times before this are a reset or unset clock: 2015-01-01T00:00:00Z.
    public static let earliestBelievable = Date(timeIntervalSince1970: 1_420_070_400)
    /// Device times further than this past the receive time are a fast clock: 10 minutes.
    public static let allowedFutureSkew: Double = 600
    /// The device times stored as times: 1970-01-01 up to 2100-01-01. Anything outside is a
    /// clock that was never set or is broken (and would not read back from every store as a
    /// date: 9999-12-31T23:59:59-23:59 is in the year 10000); it is kept as text.
    public static let storable = Date(timeIntervalSince1970: 0)..<Date(timeIntervalSince1970: 4_102_444_800)
    /// What a suspect reading's note says about how it is evaluated.
    static let suspectTreatment =
        "device clock suspect: evaluated on its own at received_at, left out of rules over a time window or the last N readings"

    /// A suspect device time moved by the device clock's measured offset, when that gives a time
    /// that is itself believable; else `nil` (the reading stays out of windowed rules).
    public static func corrected(_ measuredAt: Date, offset: Double, receivedAt: Date) -> Date? {
        let corrected = measuredAt.addingTimeInterval(-offset)
        guard storable.contains(corrected), suspicion(measuredAt: corrected, receivedAt: receivedAt) == nil else {
            return nil
        }
        return corrected
    }

    /// The note a corrected reading keeps.
    static func correction(_ measuredAt: Date, offset: Double, corrected: Date) -> String {
        let minutes = Int((abs(offset) / 60).rounded())
        return
            "measured_at \(RFC3339.format(measuredAt)) is by a device clock \(minutes) minutes \(offset > 0 ? "ahead" : "behind") (read from the device in this session); evaluated at the corrected time \(RFC3339.format(corrected))"
    }

    /// Why `measuredAt` is not believable against `receivedAt`, or `nil` when it is.
    public static func suspicion(measuredAt: Date, receivedAt: Date) -> String? {
        if measuredAt < earliestBelievable {
            return "measured_at \(RFC3339.format(measuredAt)) is before 2015; \(suspectTreatment)"
        }
        let ahead = measuredAt.timeIntervalSince(receivedAt)
        if ahead > allowedFutureSkew {
            let minutes = Int((ahead / 60).rounded(.down))
            return
                "measured_at \(RFC3339.format(measuredAt)) is \(minutes) minutes after received_at; \(suspectTreatment)"
        }
        return nil
    }
}

/// Turns a ``ReadingInput`` into a ``NormalizedReading``: unit check and conversion,
/// plausibility, consistency, clock rules and the dedup key. Deterministic and pure.
public enum Normalizer {
    /// Rounds a converted value to nine decimal places, far below any device's resolution, so
    /// that binary floating point does not show through: 201.4 lb is stored as 91.353503318 kg
    /// (the exact product), not 91.35350331800001.
    public static func trimConversionNoise(_ value: Double) -> Double {
        guard abs(value) < 1e6 else { return value }
        return (value * 1e9).rounded() / 1e9
    }

    /// `clockOffset` is how far the device's clock was ahead of the gateway's (seconds, negative
    /// when behind) when the source measured it; a suspect device time is corrected by it.
    public static func normalize(
        _ input: ReadingInput, receivedAt: Date, clockOffset: Double? = nil
    ) -> Result<NormalizedReading, Rejection> {
        let kind = input.kind
        if let rejection = EntityID.rejection(DeviceID.canonical(input.device), .device, field: "device") {
            return .failure(rejection)
        }
        guard kind.acceptedUnits.contains(input.unit) else {
            return .failure(.wrongUnit(input.unit.rawValue, kind: kind, allowed: kind.acceptedUnits))
        }
        if let stray = input.values.keys.sorted().first(where: { !kind.allowedQuantities.contains($0) }) {
            return .failure(.disallowedQuantity(stray.rawValue, kind: kind))
        }
        if let missing = kind.requiredQuantities.first(where: { input.values[$0] == nil }) {
            return .failure(.missingQuantity(missing, kind: kind))
        }
        if input.meal != nil, kind != .glucose {
            return .failure(
                Rejection(.unknownField, field: "meal", "only glucose readings carry a meal context; remove it"))
        }
        var values: [Quantity: Double] = [:]
        for quantity in input.values.keys.sorted() {
            let original = input.values[quantity]!
            let field = "values.\(quantity.rawValue)"
            guard original.isFinite else {
                return .failure(
                    Rejection(
                        .noValue, field: field, "not a finite number; send the measured value or leave the reading out")
                )
            }
            let unit = quantity == .pulse ? MeasurementUnit.perMinute : input.unit
            guard let converted = unit.convert(original, toCanonicalOf: quantity) else {
                return .failure(.wrongUnit(unit.rawValue, kind: kind, allowed: kind.acceptedUnits))
            }
            let canonical = Normalizer.trimConversionNoise(converted)
            let range = quantity.plausibleRange
            guard range.contains(canonical) else {
                let canonicalUnit = quantity.canonicalUnit.rawValue
                var shown = "\(formatNumber(original)) \(unit.rawValue)"
                if unit != quantity.canonicalUnit {
                    shown +=
                        " (\(formatNumber(canonical, fractionDigits: quantity.displayFractionDigits)) \(canonicalUnit))"
                }
                return .failure(
                    Rejection(
                        .implausible, field: field,
                        "\(shown) is outside the plausible range \(formatNumber(range.lowerBound))–\(formatNumber(range.upperBound)) \(canonicalUnit); check the device and the unit, then measure again"
                    ))
            }
            values[quantity] = canonical
        }
        if let systolic = values[.systolic], let diastolic = values[.diastolic], diastolic >= systolic {
            return .failure(
                Rejection(
                    .inconsistent, field: "values.diastolic",
                    "\(formatNumber(input.values[.diastolic]!)) \(input.unit.rawValue) is not below systolic \(formatNumber(input.values[.systolic]!)) \(input.unit.rawValue); check that the two are not swapped"
                ))
        }
        if let sequence = input.sequence, sequence < 0 {
            return .failure(
                Rejection(.invalidValue, field: "seq", "must be 0 or more; send the device's record number"))
        }
        if let failed = input.flags.first(where: \.rejectsReading) {
            let all = input.flags.filter(\.rejectsReading).map(\.meaning).joined(separator: ", ")
            let advice =
                kind == .glucose
                ? "the meter reported \(all) (\(failed.rawValue)); its number is not a measurement; measure again with a new strip"
                : "the device reported \(all) (\(failed.rawValue)); its number is not a measurement; check the sensor and measure again"
            return .failure(Rejection(.deviceError, field: "sensor_status", advice))
        }
        var notes: [String] = []
        var clockSuspect = false
        var correctedAt: Date?
        if input.measuredAt == nil, input.deviceTimeUnknown {
            clockSuspect = true
            notes.append("the device sent its time as unknown or impossible; \(ClockRules.suspectTreatment)")
        }
        if let measuredAt = input.measuredAt,
            let suspicion = ClockRules.suspicion(measuredAt: measuredAt, receivedAt: receivedAt)
        {
            clockSuspect = true
            if let clockOffset,
                let corrected = ClockRules.corrected(measuredAt, offset: clockOffset, receivedAt: receivedAt)
            {
                correctedAt = corrected
                notes.append(ClockRules.correction(measuredAt, offset: clockOffset, corrected: corrected))
            } else {
                notes.append(suspicion)
            }
        }
        if input.flags.contains(.timeFault), !clockSuspect {
            clockSuspect = true
            notes.append("the meter reported a time fault; \(ClockRules.suspectTreatment)")
        }
        if !input.supplementary.isEmpty {
            notes.append("the device also reported \(input.supplementary.map(\.description).joined(separator: ", "))")
        }
        let unreliable = input.flags.filter(\.makesUnreliable)
        if !unreliable.isEmpty {
            notes.append(
                "\(unreliable.map(\.meaning).joined(separator: ", ")): stored and shown, left out of threshold and average rules"
            )
        }
        let device = DeviceID.canonical(input.device)
        let epoch = kind == .glucose && input.sequence != nil ? input.recordEpoch : nil
        var reading =
            NormalizedReading(
                device: device, kind: kind, values: values, originalValues: input.values, originalUnit: input.unit,
                measuredAt: input.measuredAt, receivedAt: receivedAt, clockSuspect: clockSuspect,
                correctedAt: correctedAt,
                meal: input.meal,
                sequence: input.sequence, messageID: input.messageID,
                dedupKey: DedupKey(
                    device: device, kind: kind, measuredAt: input.measuredAt, sequence: input.sequence,
                    messageID: input.messageID, epoch: epoch),
                notes: notes)
        reading.flags = input.flags.sorted()
        reading.userIndex = input.userIndex
        reading.sampleType = input.sampleType
        reading.sampleLocation = input.sampleLocation
        reading.controlSolution = input.controlSolution
        reading.epoch = epoch
        return .success(reading)
    }
}
