#!/usr/bin/env python3
"""Writes captures.jsonl: Blood Pressure Measurement (2a35), Glucose Measurement (2a18) and
Glucose Measurement Context (2a34) values for every combination of their flag bits, each with
what a decoder must read from it, composed field by field from ble-health-profiles.md §4-5
(independently of the Swift decoders the captures test). Also each value cut one byte short,
which must be rejected naming the field that was cut.

Expectations: unit, values in the wire's unit (kPa / kg/L / mol/L as sent), the device time read
as UTC (Base Time + Time Offset for glucose), the sequence number, the meal.

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
            if flags & 0x10:
                fields.append(("measurement status", struct.pack("<H", 0x0012)))
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
            else:
                expect = {"rejected": "no_value", "field": "values.glucose"}
            if flags & 0x08:
                fields.append(("sensor status", struct.pack("<H", 0x0001)))
            name = f"2a18 flags 0x{flags | rfu:02X}"
            if not flags & 0x02:
                # No concentration: rejected whole, and cut short it is still short of its fields.
                value = b"".join(b for _, b in fields)
                print(json.dumps({"name": name, "char": "2a18", "hex": value.hex(" ").upper(), "expect": expect}))
                continue
            emit(name, "2a18", fields, expect)


def context():
    meals = {1: "before_meal", 2: "after_meal", 3: "fasting", 4: "unknown", 5: "bedtime"}
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
        # Fields after the meal are not read (trailing bytes are accepted, §12 trap 4).
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


blood_pressure()
glucose()
context()
