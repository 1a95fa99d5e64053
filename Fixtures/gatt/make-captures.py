#!/usr/bin/env python3
"""Writes captures.jsonl: Blood Pressure Measurement (2a35), Glucose Measurement (2a18),
Glucose Measurement Context (2a34), Weight Measurement (2a9d), Body Composition Measurement
(2a9c), PLX Spot-check Measurement (2a5e), PLX Continuous Measurement (2a5f) and Temperature
Measurement (2a1c) values for every combination of their flag bits, each with what a decoder
must read from it, composed field by field from docs/ble.md (the GATT Specification Supplement's
field tables; independently of the Swift decoders the captures test). Also each value cut one
byte short, which must be rejected naming the field that was cut (for body composition, whose 13
flag bits make 8192 values, every 64th).

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


def float32(mantissa, exponent):
    """IEEE-11073 FLOAT: 8-bit exponent, 24-bit mantissa, little-endian."""
    return struct.pack("<I", ((exponent & 0xFF) << 24) | (mantissa & 0xFFFFFF))


def date_time(y, mo, d, h, mi, s):
    return struct.pack("<HBBBBB", y, mo, d, h, mi, s)


def emit(name, char, fields, expect, cut=True):
    """fields: (field name, bytes) in wire order."""
    value = b"".join(b for _, b in fields)
    print(json.dumps({"name": name, "char": char, "hex": value.hex(" ").upper(), "expect": expect}))
    # The same value cut short by one byte: the field holding the last byte is named.
    if cut and len(value) > 1:
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


TIME = date_time(2025, 5, 21, 7, 12, 30)
TIME_TEXT = "2025-05-21T07:12:30Z"


def mass(raw, imperial):
    """Weight Scale mass fields: 0.005 kg (SI) or 0.01 lb (imperial) per step."""
    return raw / 100 if imperial else raw * 5 / 1000


def time_and_user(flags, fields, expect, user):
    """Flags bits 1 and 2 of the scale's values: the time stamp, then the user id."""
    if flags & 0x02:
        fields.append(("time stamp", TIME))
        expect["measured_at"] = TIME_TEXT
    if flags & 0x04:
        fields.append(("user id", bytes([user])))
        expect["user"] = user


def weight():
    # Flags: bit 0 imperial, 1 time stamp, 2 user id, 3 BMI and height; bits 4-7 RFU.
    for rfu in (0x00, 0xF0):
        for flags in range(16):
            imperial = flags & 0x01
            raw = 17900 if imperial else 16240  # 179.00 lb, 81.200 kg
            fields = [("flags", bytes([flags | rfu])), ("weight", struct.pack("<H", raw))]
            expect = {"unit": "lb" if imperial else "kg", "values": {"weight": mass(raw, imperial)}, "measured_at": None}
            time_and_user(flags, fields, expect, 3)
            if flags & 0x08:
                height = 705 if imperial else 1790  # 70.5 in, 1.790 m
                fields += [("bmi", struct.pack("<H", 254)), ("height", struct.pack("<H", height))]
                expect["supplementary"] = {"bmi": 25.4, "height": height / 10 if imperial else height / 1000}
                expect["supplementary_units"] = {"bmi": "kg/m2", "height": "in" if imperial else "m"}
            emit(f"2a9d flags 0x{flags | rfu:02X}", "2a9d", fields, expect)
    # 0xFFFF: "measurement unsuccessful" (WSS).
    emit("2a9d measurement unsuccessful", "2a9d", [("flags", bytes([0x00])), ("weight", b"\xff\xff")],
         {"rejected": "no_value", "field": "values.weight"}, cut=False)
    emit("2a9d user 255", "2a9d", [("flags", bytes([0x04])), ("weight", struct.pack("<H", 16240)), ("user id", bytes([255]))],
         {"unit": "kg", "values": {"weight": 81.2}, "measured_at": None, "user": 255})


# Body Composition Measurement optional fields after body fat and the time stamp / user id, by
# flag bit: (bit, field name, supplementary name, raw value, kind).
BODY_FIELDS = [(3, "basal metabolism", "basal_metabolism", 7100, "kJ"), (4, "muscle percentage", "muscle_percentage", 405, "pct"),
               (5, "muscle mass", "muscle_mass", 6400, "mass"), (6, "fat free mass", "fat_free_mass", 12800, "mass"),
               (7, "soft lean mass", "soft_lean_mass", 6000, "mass"), (8, "body water mass", "body_water_mass", 8000, "mass"),
               (9, "impedance", "impedance", 5002, "ohm")]


def body_composition():
    # Flags (u16): bit 0 imperial, 1 time stamp, 2 user id, 3-9 BODY_FIELDS, 10 weight, 11 height,
    # 12 multiple packet measurement; 13-15 RFU. Body fat (0.1 %) always follows the flags.
    for flags in range(1 << 13):
        imperial = flags & 0x0001
        fields = [("flags", struct.pack("<H", flags)), ("body fat percentage", struct.pack("<H", 223))]
        supplementary = {"body_fat": 22.3}
        units = {"body_fat": "%"}
        expect = {"measured_at": None}
        time_and_user(flags, fields, expect, 2)
        for bit, field, name, raw, kind in BODY_FIELDS:
            if flags & (1 << bit):
                fields.append((field, struct.pack("<H", raw)))
                if kind == "mass":
                    supplementary[name], units[name] = mass(raw, imperial), "lb" if imperial else "kg"
                elif kind == "pct":
                    supplementary[name], units[name] = raw / 10, "%"
                elif kind == "ohm":
                    supplementary[name], units[name] = raw / 10, "ohm"
                else:
                    supplementary[name], units[name] = raw, "kJ"
        if flags & 0x0400:
            raw = 17900 if imperial else 16240
            fields.append(("weight", struct.pack("<H", raw)))
            expect.update(unit="lb" if imperial else "kg", values={"weight": mass(raw, imperial)})
        if flags & 0x0800:
            height = 705 if imperial else 1790
            fields.append(("height", struct.pack("<H", height)))
            supplementary["height"], units["height"] = (height / 10, "in") if imperial else (height / 1000, "m")
        if flags & 0x0400:
            expect.update(supplementary=supplementary, supplementary_units=units)
        else:
            # Without the weight it is not a weight reading.
            expect = {"rejected": "no_value", "field": "values.weight"}
        emit(f"2a9c flags 0x{flags:04X}", "2a9c", fields, expect, cut=flags % 64 == 63)
    emit("2a9c body fat unsuccessful", "2a9c",
         [("flags", struct.pack("<H", 0x0400)), ("body fat percentage", b"\xff\xff"), ("weight", struct.pack("<H", 16240))],
         {"rejected": "no_value", "field": "body_fat"}, cut=False)


# PLX Measurement Status (u16) bits that name something about the value, and Device and Sensor
# Status (u24) bits, from the PLXS / GSS field tables (docs/ble.md, "Weight Scale, Pulse Oximeter,
# Health Thermometer").
PLX_MEASUREMENT_STATUS = {10: "demonstration_data", 11: "testing_data", 12: "calibration_ongoing", 13: "measurement_unavailable",
                          14: "questionable_measurement", 15: "invalid_measurement"}
PLX_DEVICE_STATUS = {1: "equipment_malfunction", 2: "signal_processing_irregularity", 3: "inadequate_signal", 4: "poor_signal",
                     5: "low_perfusion", 6: "erratic_signal", 7: "nonpulsatile_signal", 8: "questionable_pulse",
                     10: "sensor_interference", 11: "sensor_unconnected", 12: "unknown_sensor", 13: "sensor_displaced",
                     14: "sensor_malfunction", 15: "sensor_disconnected"}
# States after which the number is not the patient's measurement: rejected (product rule).
PLX_REJECTING = {"demonstration_data", "testing_data", "calibration_ongoing", "measurement_unavailable", "invalid_measurement",
                 "equipment_malfunction", "sensor_unconnected", "unknown_sensor", "sensor_malfunction", "sensor_disconnected"}


def plx_status_names(measurement=None, device=None):
    names = []
    if measurement is not None:
        names += [n for bit, n in sorted(PLX_MEASUREMENT_STATUS.items()) if measurement & (1 << bit)]
    if device is not None:
        names += [n for bit, n in sorted(PLX_DEVICE_STATUS.items()) if device & (1 << bit)]
    return names


def plx_tail(fields, expect, flags, status_bit, measurement=0x4000, device=0x000020):
    """Measurement Status, Device and Sensor Status, Pulse Amplitude Index, at status_bit and the two bits above it."""
    m = d = None
    if flags & status_bit:
        fields.append(("measurement status", struct.pack("<H", measurement)))
        m = measurement
    if flags & (status_bit << 1):
        fields.append(("device and sensor status", struct.pack("<I", device)[:3]))
        d = device
    if m is not None or d is not None:
        expect["flags"] = plx_status_names(m, d)
        if PLX_REJECTING & set(expect["flags"]):
            expect["normalized"] = "device_error"
    if flags & (status_bit << 2):
        fields.append(("pulse amplitude index", sfloat(25, -1)))
        expect["supplementary"] = {"pulse_amplitude_index": 2.5}
        expect["supplementary_units"] = {"pulse_amplitude_index": "%"}


def plx_measurement(char, status_bit, middle, **status):
    """Every flag combination of a PLX measurement (five defined bits, and the RFU bits 5-7 set):
    SpO2 and PR (SFLOAT), the fields `middle` adds for the flags, then the shared tail."""
    for rfu in (0x00, 0xE0):
        for flags in range(32):
            fields = [("flags", bytes([flags | rfu])), ("spo2", sfloat(95, 0)), ("pulse rate", sfloat(70, 0))]
            expect = {"unit": "%", "values": {"spo2": 95, "pulse": 70}, "measured_at": None}
            middle(flags, fields, expect)
            plx_tail(fields, expect, flags, status_bit, **status)
            emit(f"{char} flags 0x{flags | rfu:02X}", char, fields, expect)


def plx_spot_check():
    # Flags: bit 0 time stamp, 1 measurement status, 2 device and sensor status, 3 pulse amplitude
    # index, 4 device clock not set.
    def time_stamp(flags, fields, expect):
        if flags & 0x01:
            fields.append(("time stamp", TIME))
            if flags & 0x10:
                # A time from a clock the oximeter says is not set is no time.
                expect["time_unknown"] = True
            else:
                expect["measured_at"] = TIME_TEXT
    plx_measurement("2a5e", 0x02, time_stamp)


def plx_statuses():
    # Each Measurement Status bit alone (flags bit 1), each Device and Sensor Status bit alone (bit 2).
    for name, flags, bits, status in (("measurement status", 0x02, 16, "measurement"), ("device and sensor status", 0x04, 24, "device")):
        for bit in range(bits):
            fields = [("flags", bytes([flags])), ("spo2", sfloat(95, 0)), ("pulse rate", sfloat(70, 0))]
            expect = {"unit": "%", "values": {"spo2": 95, "pulse": 70}, "measured_at": None, "flags": []}
            plx_tail(fields, expect, flags, 0x02, **{status: 1 << bit})
            emit(f"2a5e {name} bit {bit}", "2a5e", fields, expect)
    # SpO2 NaN: nothing to store; pulse rate NaN: no pulse.
    emit("2a5e spo2 NaN", "2a5e", [("flags", bytes([0x00])), ("spo2", struct.pack("<H", 0x07FF)), ("pulse rate", sfloat(70, 0))],
         {"rejected": "no_value", "field": "values.spo2"}, cut=False)
    emit("2a5e pulse rate NaN", "2a5e", [("flags", bytes([0x00])), ("spo2", sfloat(86, 0)), ("pulse rate", struct.pack("<H", 0x07FF))],
         {"unit": "%", "values": {"spo2": 86}, "measured_at": None})


def plx_continuous():
    # Flags: bit 0 SpO2PR-Fast, 1 SpO2PR-Slow, 2 measurement status, 3 device and sensor status,
    # 4 pulse amplitude index. SpO2PR-Normal is the reading; it carries no time.
    def fast_slow(flags, fields, expect):
        if flags & 0x01:
            fields += [("spo2 fast", sfloat(96, 0)), ("pulse rate fast", sfloat(71, 0))]
        if flags & 0x02:
            fields += [("spo2 slow", sfloat(94, 0)), ("pulse rate slow", sfloat(69, 0))]
    plx_measurement("2a5f", 0x04, fast_slow, measurement=0x0080, device=0x000100)


TEMPERATURE_TYPES = {1: "armpit", 2: "body", 3: "ear", 4: "finger", 5: "gastrointestinal_tract", 6: "mouth", 7: "rectum",
                     8: "toe", 9: "tympanum"}


def temperature():
    # Flags: bit 0 Fahrenheit, 1 time stamp, 2 temperature type; 3-7 RFU. FLOAT always.
    by_unit = {0: ("Cel", float32(3760, -2), 37.6), 1: ("[degF]", float32(996, -1), 99.6)}
    for rfu in (0x00, 0xF8):
        for flags in range(8):
            unit, raw, value = by_unit[flags & 0x01]
            fields = [("flags", bytes([flags | rfu])), ("temperature", raw)]
            expect = {"unit": unit, "values": {"temperature": value}, "measured_at": None}
            if flags & 0x02:
                fields.append(("time stamp", TIME))
                expect["measured_at"] = TIME_TEXT
            if flags & 0x04:
                fields.append(("temperature type", bytes([3])))
                expect["sample_location"] = "ear"
            emit(f"2a1c flags 0x{flags | rfu:02X}", "2a1c", fields, expect)
    for code in range(11):
        fields = [("flags", bytes([0x04])), ("temperature", float32(3760, -2)), ("temperature type", bytes([code]))]
        expect = {"unit": "Cel", "values": {"temperature": 37.6}, "measured_at": None,
                  "sample_location": TEMPERATURE_TYPES.get(code, f"type_{code}")}
        emit(f"2a1c temperature type {code}", "2a1c", fields, expect, cut=False)
    emit("2a1c NaN", "2a1c", [("flags", bytes([0x00])), ("temperature", struct.pack("<I", 0x007FFFFF))],
         {"rejected": "no_value", "field": "values.temperature"}, cut=False)
    # E8 of the reference: 37.60 degrees C, 2012-12-05 11:50:27, finger.
    emit("2a1c E8", "2a1c", [("flags", bytes([0x06])), ("temperature", bytes.fromhex("B00E00FE")),
                             ("time stamp", date_time(2012, 12, 5, 11, 50, 27)), ("temperature type", bytes([4]))],
         {"unit": "Cel", "values": {"temperature": 37.6}, "measured_at": "2012-12-05T11:50:27Z", "sample_location": "finger"})


blood_pressure()
glucose()
context()
status_bits()
annunciations()
weight()
body_composition()
plx_spot_check()
plx_statuses()
plx_continuous()
temperature()
