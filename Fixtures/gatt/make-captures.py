#!/usr/bin/env python3
"""Writes captures.jsonl: Blood Pressure Measurement (2a35), Glucose Measurement (2a18) and
Glucose Measurement Context (2a34) values for every combination of their flag bits, each with
what a decoder must read from it, composed field by field from docs/ble.md (the 0x2A35, 0x2A18
and 0x2A34 sections; independently of the Swift decoders the captures test). Also each value cut
one byte short, which must be rejected naming the field that was cut.

Expectations: unit, values in the wire's unit (kPa / kg/L / mol/L as sent), the device time read
as UTC (Base Time + Time Offset for glucose), the sequence number, the meal, the named flags of
every Measurement Status and Sensor Status Annunciation bit, the user id, the glucose sample type
and location and whether it is a control-solution test, and (for annunciations that make a result
meaningless) that normalizing it rejects it as device_error. The bit names are written out here
from the tables of docs/ble.md (the same sections), not taken from the Swift code.

Run: python3 Fixtures/gatt/make-captures.py > Fixtures/gatt/captures.jsonl
"""
import json
import struct


def sfloat(mantissa, exponent):
    return struct.pack("<H", ((exponent & 0xF) << 12) | (mantissa & 0xFFF))


def date_time(y, mo, d, h, mi, s):
    return struct.pack("<HBBBBB", y, mo, d, h, mi, s)


def emit(name, char, fields, expect):
    """fields: (field name, bytes) in wire order."""
    value = b"".join(b for _, b in fields)
    print(json.dumps({"name": name, "char": char, "hex": value.hex(" ").upper(), "expect": expect}))
    # The same value cut short by one byte: the field holding the last byte is named.
    if len(value) > 1:
        last = [n for n, b in fields if b][-1]
        print(json.dumps({"name": name + ", cut one byte short", "char": char, "hex": value[:-1].hex(" ").upper(),
                          "expect": {"rejected": "malformed_value", "field": last}}))


def blood_pressure():
    for rfu in (0x00, 0xE0):
        for flags in range(32):
            kpa = flags & 0x01
            fields = [("flags", bytes([flags | rfu]))]
            if kpa:
                fields += [("systolic", sfloat(189, -1)), ("diastolic", sfloat(11, 0)), ("map", sfloat(159, -1))]
                values = {"systolic": 18.9, "diastolic": 11, "map": 15.9}
            else:
                fields += [("systolic", sfloat(138, 0)), ("diastolic", sfloat(88, 0)), ("map", sfloat(120, 0))]
                values = {"systolic": 138, "diastolic": 88, "map": 120}
            expect = {"unit": "kPa" if kpa else "mmHg", "values": values, "measured_at": None}
            if flags & 0x02:
                fields.append(("time stamp", date_time(2025, 5, 21, 7, 12, 30)))
                expect["measured_at"] = "2025-05-21T07:12:30Z"
            if flags & 0x04:
                fields.append(("pulse rate", sfloat(72, 0)))
                values["pulse"] = 72
            if flags & 0x08:
                fields.append(("user id", bytes([0x01])))
                expect["user"] = 1
            if flags & 0x10:
                # bit 1 cuff too loose; bits 3-4 = 0b10: pulse rate below the lower limit.
                fields.append(("measurement status", struct.pack("<H", 0x0012)))
                expect["flags"] = ["cuff_too_loose", "pulse_below_range"]
            emit(f"2a35 flags 0x{flags | rfu:02X}", "2a35", fields, expect)


def glucose():
    for rfu in (0x00, 0xE0):
        for flags in range(32):
            fields = [("flags", bytes([flags | rfu])), ("sequence number", struct.pack("<H", 258)),
                      ("base time", date_time(2025, 5, 21, 12, 40, 10))]
            expect = {"sequence": 258, "measured_at": "2025-05-21T12:40:10Z"}
            if flags & 0x01:
                fields.append(("time offset", struct.pack("<h", -5)))
                expect["measured_at"] = "2025-05-21T12:35:10Z"
            if flags & 0x02:
                if flags & 0x04:
                    fields.append(("concentration", sfloat(74, -4)))
                    expect.update(unit="mol/L", values={"glucose": 0.0074})
                else:
                    fields.append(("concentration", sfloat(105, -5)))
                    expect.update(unit="kg/L", values={"glucose": 0.00105})
                fields.append(("type and sample location", bytes([0x12])))
                expect.update(sample_type="capillary_plasma", sample_location="finger")
            else:
                expect = {"rejected": "no_value", "field": "values.glucose"}
            if flags & 0x08:
                fields.append(("sensor status", struct.pack("<H", 0x0001)))
                if "rejected" not in expect:
                    expect["flags"] = ["battery_low"]
            name = f"2a18 flags 0x{flags | rfu:02X}"
            if not flags & 0x02:
                # No concentration: rejected whole, and cut short it is still short of its fields.
                value = b"".join(b for _, b in fields)
                print(json.dumps({"name": name, "char": "2a18", "hex": value.hex(" ").upper(), "expect": expect}))
                continue
            emit(name, "2a18", fields, expect)


def context():
    meals = {1: "before_meal", 2: "after_meal", 3: "fasting", 4: "casual", 5: "bedtime"}
    for flags in range(256):
        fields = [("flags", bytes([flags])), ("sequence number", struct.pack("<H", 258))]
        meal_code = 1 + flags % 5
        expect = {"sequence": 258, "meal": None}
        if flags & 0x80:
            fields.append(("extended flags", bytes([0x00])))
        if flags & 0x01:
            fields += [("carbohydrate id", bytes([0x03])), ("carbohydrate", sfloat(50, -3))]
        if flags & 0x02:
            fields.append(("meal", bytes([meal_code])))
            expect["meal"] = meals[meal_code]
        # Fields after the meal are not read, so trailing bytes are accepted (docs/ble.md, 0x2A34).
        if flags & 0x04:
            fields.append(("tester-health", bytes([0x21])))
        if flags & 0x08:
            fields.append(("exercise", struct.pack("<HB", 1800, 60)))
        if flags & 0x10:
            fields.append(("medication", bytes([0x04]) + sfloat(10, -6)))
        if flags & 0x40:
            fields.append(("hba1c", sfloat(62, -1)))
        value = b"".join(b for _, b in fields)
        print(json.dumps({"name": f"2a34 flags 0x{flags:02X}", "char": "2a34", "hex": value.hex(" ").upper(), "expect": expect}))


# Measurement Status (0x2A35 flags bit 4), docs/ble.md § "Blood Pressure Measurement (0x2A35), BLS".
BP_STATUS_BITS = {0: "body_movement", 1: "cuff_too_loose", 2: "irregular_pulse", 5: "improper_position"}
PULSE_RANGE = {0: [], 1: ["pulse_above_range"], 2: ["pulse_below_range"], 3: ["pulse_range_reserved"]}

# Sensor Status Annunciation (0x2A18 flags bit 3), docs/ble.md § "Glucose Measurement (0x2A18), GLS".
GLUCOSE_STATUS_BITS = ["battery_low", "sensor_malfunction", "sample_size_insufficient", "strip_insertion_error",
                       "strip_type_incorrect", "result_above_range", "result_below_range", "temperature_too_high",
                       "temperature_too_low", "read_interrupted", "general_device_fault", "time_fault"]
# Annunciations after which the number is not a measurement: the reading is rejected (product rule).
REJECTING = {"sensor_malfunction", "sample_size_insufficient", "strip_insertion_error", "strip_type_incorrect",
             "read_interrupted", "general_device_fault"}

TYPES = {1: "capillary_whole_blood", 2: "capillary_plasma", 3: "venous_whole_blood", 4: "venous_plasma",
         5: "arterial_whole_blood", 6: "arterial_plasma", 7: "undetermined_whole_blood", 8: "undetermined_plasma",
         9: "interstitial_fluid", 10: "control_solution"}
LOCATIONS = {1: "finger", 2: "alternate_site", 3: "earlobe", 4: "control_solution", 15: "not_available"}


def bp_status(status, user=None):
    flags = 0x10 | (0x08 if user is not None else 0)
    fields = [("flags", bytes([flags])), ("systolic", sfloat(138, 0)), ("diastolic", sfloat(88, 0)), ("map", sfloat(120, 0))]
    expect = {"unit": "mmHg", "values": {"systolic": 138, "diastolic": 88, "map": 120}, "measured_at": None}
    if user is not None:
        fields.append(("user id", bytes([user])))
        expect["user"] = user
    fields.append(("measurement status", struct.pack("<H", status)))
    names = [n for bit, n in sorted(BP_STATUS_BITS.items()) if status & (1 << bit)]
    names += PULSE_RANGE[(status >> 3) & 3]
    order = ["body_movement", "cuff_too_loose", "irregular_pulse", "pulse_above_range", "pulse_below_range",
             "pulse_range_reserved", "improper_position"]
    expect["flags"] = sorted(names, key=order.index)
    return fields, expect


def status_bits():
    # Each Measurement Status bit alone, each pulse-rate-range value, RFU bits ignored, all at once.
    for bit in range(16):
        fields, expect = bp_status(1 << bit)
        emit(f"2a35 measurement status bit {bit}", "2a35", fields, expect)
    for value in range(4):
        fields, expect = bp_status(value << 3)
        emit(f"2a35 pulse rate range {value:02b}", "2a35", fields, expect)
    fields, expect = bp_status(0xFFFF)
    emit("2a35 measurement status all bits", "2a35", fields, expect)
    for user in (0, 2, 0xFF):
        fields, expect = bp_status(0x0004, user=user)
        emit(f"2a35 user {user} irregular pulse", "2a35", fields, expect)


def glucose_value(type_location, status=None, mantissa=125, exponent=-5):
    flags = 0x02 | (0x08 if status is not None else 0)
    fields = [("flags", bytes([flags])), ("sequence number", struct.pack("<H", 7)),
              ("base time", date_time(2025, 5, 21, 12, 40, 10)), ("concentration", sfloat(mantissa, exponent)),
              ("type and sample location", bytes([type_location]))]
    expect = {"sequence": 7, "measured_at": "2025-05-21T12:40:10Z", "unit": "kg/L",
              "values": {"glucose": mantissa * 10 ** exponent}}
    t, loc = type_location & 0x0F, type_location >> 4
    if t:
        expect["sample_type"] = TYPES.get(t, f"type_{t}")
    if loc:
        expect["sample_location"] = LOCATIONS.get(loc, f"location_{loc}")
    expect["control"] = t == 10 or loc == 4
    if status is not None:
        fields.append(("sensor status", struct.pack("<H", status)))
        names = [n for bit, n in enumerate(GLUCOSE_STATUS_BITS) if status & (1 << bit)]
        expect["flags"] = names
        if REJECTING & set(names):
            expect["normalized"] = "device_error"
    return fields, expect


def annunciations():
    for bit in range(16):
        fields, expect = glucose_value(0x11, status=1 << bit)
        emit(f"2a18 sensor status bit {bit}", "2a18", fields, expect)
    fields, expect = glucose_value(0x11, status=0xFFFF)
    emit("2a18 sensor status all bits", "2a18", fields, expect)
    # HI: the meter's top of range (600 mg/dL) with "result too high"; LO: 20 with "too low".
    fields, expect = glucose_value(0x11, status=1 << 5, mantissa=600)
    emit("2a18 HI 600 mg/dL", "2a18", fields, expect)
    fields, expect = glucose_value(0x11, status=1 << 6, mantissa=20)
    emit("2a18 LO 20 mg/dL", "2a18", fields, expect)
    # Strip insertion and sample size with a low number: rejected, never a hypo.
    fields, expect = glucose_value(0x11, status=(1 << 2) | (1 << 3), mantissa=20)
    emit("2a18 20 mg/dL with strip and sample errors", "2a18", fields, expect)
    # Every type with finger, every location with capillary whole blood.
    for t in range(16):
        fields, expect = glucose_value((1 << 4) | t)
        emit(f"2a18 type {t}", "2a18", fields, expect)
    for loc in range(16):
        fields, expect = glucose_value((loc << 4) | 1)
        emit(f"2a18 location {loc}", "2a18", fields, expect)
    fields, expect = glucose_value(0x4A)
    emit("2a18 control solution (type 10, location 4)", "2a18", fields, expect)


blood_pressure()
glucose()
context()
status_bits()
annunciations()
