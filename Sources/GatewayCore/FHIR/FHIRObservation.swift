#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// FHIR R4 vital-signs Observations (a single `Observation`, or a `Bundle` of them) as home hubs
/// publish them on `…/fhir`. Blood pressure is the 85354-9 panel with 8480-6/8462-4 (and
/// optionally 8478-0, 8867-4) components; other kinds carry one `valueQuantity`. Units are UCUM
/// codes. The device comes from `device.identifier.value` or a `Device/ID` reference; the
/// patient is found through the device, as for every source.
public enum FHIRObservation {
    /// LOINC codes read, and the kind and quantity each gives.
    static let codes: [String: (ReadingKind, Quantity)] = [
        "8480-6": (.bloodPressure, .systolic), "8462-4": (.bloodPressure, .diastolic),
        "8478-0": (.bloodPressure, .meanArterialPressure),
        "8867-4": (.pulse, .pulse), "2339-0": (.glucose, .glucose), "41653-7": (.glucose, .glucose),
        "15074-8": (.glucose, .glucose),
        "29463-7": (.weight, .weight), "59408-5": (.spo2, .spo2), "2708-6": (.spo2, .spo2),
        "8310-5": (.temperature, .temperature),
    ]

    public static func parse(_ payload: Data) -> Result<DecodedPayload, Rejection> {
        let json: JSONValue
        do { json = try JSONValue.parse(input: payload, expected: "a FHIR R4 Observation or Bundle") } catch {
            return .failure(error)
        }
        guard case .object(let object) = json else {
            return .failure(
                Rejection(.notAnObject, field: nil, "expected a FHIR resource object, got \(json.typeName)"))
        }
        switch object["resourceType"] {
        case .string("Observation")?:
            return .success(DecodedPayload(items: [observation(object)], isBatch: false))
        case .string("Bundle")?:
            guard case .array(let entries)? = object["entry"], !entries.isEmpty else {
                return .failure(
                    Rejection(.emptyBatch, field: "entry", "a Bundle needs at least one entry with an Observation"))
            }
            return .success(
                DecodedPayload(
                    items: entries.enumerated().map { index, entry in
                        guard case .object(let e) = entry, case .object(let resource)? = e["resource"],
                            resource["resourceType"] == .string("Observation")
                        else {
                            return .failure(
                                Rejection(.notAnObject, field: "entry[\(index)].resource", "expected an Observation"))
                        }
                        return observation(resource).mapError { $0.within("entry[\(index)].resource") }
                    }, isBatch: true))
        default:
            return .failure(Rejection(.unknownKind, field: "resourceType", "expected Observation or Bundle"))
        }
    }

    static func loinc(_ code: JSONValue?) -> String? {
        guard case .object(let concept)? = code, case .array(let codings)? = concept["coding"] else { return nil }
        for case .object(let coding) in codings {
            if case .string(let system)? = coding["system"], system != "http://loinc.org" { continue }
            if case .string(let value)? = coding["code"], codes[value] != nil || value == "85354-9" { return value }
        }
        return nil
    }

    static func quantity(_ value: JSONValue?, field: String) throws(Rejection) -> (Double, MeasurementUnit) {
        guard case .object(let q)? = value else {
            throw Rejection(
                .missingField, field: field, "required; give the measured value as a valueQuantity with a UCUM code")
        }
        guard case .number(let number)? = q["value"] else {
            throw Rejection(.wrongType, field: "\(field).value", "expected a number")
        }
        let codeText: String? =
            if case .string(let c)? = q["code"] { c } else if case .string(let u)? = q["unit"] { u } else { nil }
        guard let codeText else {
            throw Rejection(.missingField, field: "\(field).code", "required; give the UCUM unit code, e.g. mm[Hg]")
        }
        guard let unit = MeasurementUnit(spelling: codeText) else {
            throw Rejection(.wrongUnit, field: "\(field).code", "\"\(codeText)\" is not a UCUM unit this gateway reads")
        }
        return (number, unit)
    }

    static func observation(_ o: [String: JSONValue]) -> Result<ReadingInput, Rejection> {
        Result { () throws(Rejection) in
            if case .string(let status)? = o["status"], ["entered-in-error", "cancelled"].contains(status) {
                throw Rejection(.invalidValue, field: "status", "\"\(status)\" is not a measurement to store")
            }
            guard let code = loinc(o["code"]) else {
                throw Rejection(
                    .unknownKind, field: "code",
                    "no vital-signs LOINC code this gateway reads; use 85354-9 (blood pressure), 8867-4, 2339-0/41653-7, 29463-7, 59408-5 or 8310-5"
                )
            }
            var device: String?
            if case .object(let reference)? = o["device"] {
                if case .object(let identifier)? = reference["identifier"],
                    case .string(let value)? = identifier["value"]
                {
                    device = value
                } else if case .string(let ref)? = reference["reference"], ref.hasPrefix("Device/") {
                    device = String(ref.dropFirst(7))
                }
            }
            guard let device, !device.isEmpty else {
                throw Rejection(
                    .missingField, field: "device",
                    "required; name the device with device.identifier.value or a Device/ID reference")
            }
            var measuredAt: Date?
            if let effective = o["effectiveDateTime"] {
                guard case .string(let text) = effective, let date = RFC3339.parse(text) else {
                    throw Rejection(
                        .invalidTimestamp, field: "effectiveDateTime", "not an RFC 3339 time with an offset")
                }
                measuredAt = date
            }
            var messageID: String?
            if case .string(let id)? = o["id"], !id.isEmpty { messageID = id }
            guard measuredAt != nil || messageID != nil else {
                throw Rejection(
                    .missingField, field: "effectiveDateTime",
                    "an Observation needs effectiveDateTime or id, so that the same Observation sent again (an MQTT redelivery) is stored once; add the time of the measurement or the Observation's id"
                )
            }
            if code == "85354-9" {
                guard case .array(let components)? = o["component"] else {
                    throw Rejection(
                        .missingField, field: "component",
                        "required for the blood pressure panel: systolic 8480-6 and diastolic 8462-4")
                }
                var values: [Quantity: Double] = [:]
                var unit: MeasurementUnit?
                for (index, component) in components.enumerated() {
                    guard case .object(let c) = component, let componentCode = loinc(c["code"]),
                        let (_, quantity) = codes[componentCode]
                    else { continue }
                    let (value, componentUnit) = try self.quantity(
                        c["valueQuantity"], field: "component[\(index)].valueQuantity")
                    if quantity != .pulse {
                        if let unit, unit != componentUnit {
                            throw Rejection(
                                .inconsistent, field: "component[\(index)].valueQuantity.code",
                                "pressures in one panel share one unit")
                        }
                        unit = componentUnit
                    }
                    values[quantity] = value
                }
                return ReadingInput(
                    device: device, kind: .bloodPressure, unit: unit ?? .mmHg, values: values, measuredAt: measuredAt,
                    messageID: messageID)
            }
            let (kind, quantity) = codes[code]!
            let (value, unit) = try self.quantity(o["valueQuantity"], field: "valueQuantity")
            return ReadingInput(
                device: device, kind: kind, unit: unit, values: [quantity: value], measuredAt: measuredAt,
                messageID: messageID)
        }
    }
}
