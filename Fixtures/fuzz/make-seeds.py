#!/usr/bin/env python3
"""Writes the seed corpora of scripts/fuzz into Fixtures/fuzz/TARGET/seed-*, from the fixtures:

  native  every native-format fixture (valid and invalid), the demo lines, time entries
  fhir    the FHIR Observations and Bundles the tests use, and near misses
  gatt    every capture in Fixtures/gatt/captures.jsonl, prefixed with its selector byte
  att     a whole glucometer exchange and a whole cuff exchange as a peer sends them
          (each PDU a length byte and the PDU), cut at several points

Inputs that once crashed a target (crash-*) live beside the seeds and are kept.
Run: python3 Fixtures/fuzz/make-seeds.py
"""
import glob
import json
import os
import struct

here = os.path.dirname(os.path.abspath(__file__))
fixtures = os.path.dirname(here)


def write(target, name, data):
    os.makedirs(os.path.join(here, target), exist_ok=True)
    with open(os.path.join(here, target, "seed-" + name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


for target in ("native", "fhir", "gatt", "att"):
    for old in glob.glob(os.path.join(here, target, "seed-*")):
        os.remove(old)

# native
for path in sorted(glob.glob(os.path.join(fixtures, "native", "*", "*.json"))):
    write("native", os.path.basename(os.path.dirname(path)) + "-" + os.path.basename(path), open(path, "rb").read())
for i, line in enumerate(open(os.path.join(fixtures, "native", "demo.jsonl"), "rb").read().splitlines()):
    write("native", f"demo-{i}.json", line)
write("native", "time-entry.json", '{"v":1,"patient":"P1","start":"2026-03-04T10:05:00-06:00","minutes":12,"staff":"nurse.kim","role":"clinical_staff","program":"ccm","activity":"call","id":"app-4411"}')
write("native", "time-entry-duplicate-key.json", '{"v":1,"patient":"P1","patient":"P2","start":"2026-03-04T10:05:00-06:00","minutes":12,"staff":"nurse.kim","role":"clinical_staff","program":"ccm","activity":"call"}')
write("native", "escaped-duplicate-key.json", '[{"v":1,"device":"x","dev\\u0069ce":"y","kind":"pulse","unit":"/min","values":{"pulse":60,"p\\ud83d\\ude00":1},"id":"a"}]')
write("native", "leap-second.json", '{"v":1,"device":"x","kind":"pulse","unit":"/min","values":{"pulse":60},"measured_at":"2016-12-31T17:59:60.5-06:00"}')
write("native", "time-entry-end.json", '[{"v":1,"patient":"P1","start":"2026-03-04T10:05:00-06:00","end":"2026-03-04T10:30:00-06:00","staff":"dr.lee","role":"physician","program":"rpm","activity":"review","interactive":false}]')

# fhir
component = lambda code, value, unit, ucum: {"code": {"coding": [{"system": "http://loinc.org", "code": code}]}, "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": ucum}}
bp = {"resourceType": "Observation", "id": "obs-1", "status": "final", "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
      "device": {"identifier": {"value": "A4:C1:38:12:34:56"}}, "effectiveDateTime": "2026-03-04T07:42:10-06:00",
      "component": [component("8480-6", 142, "mmHg", "mm[Hg]"), component("8462-4", 91, "mmHg", "mm[Hg]"), component("8867-4", 72, "/min", "/min")]}
weight = {"resourceType": "Observation", "status": "final", "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
          "device": {"reference": "Device/hub7-scale-1"}, "effectiveDateTime": "2026-03-04T06:30:00-06:00",
          "valueQuantity": {"value": 201.4, "unit": "lb", "system": "http://unitsofmeasure.org", "code": "[lb_av]"}}
glucose = dict(weight, code={"coding": [{"system": "http://loinc.org", "code": "2339-0"}]}, valueQuantity={"value": 7.4, "unit": "mmol/L", "system": "http://unitsofmeasure.org", "code": "mmol/L"})
write("fhir", "bp.json", json.dumps(bp))
write("fhir", "weight.json", json.dumps(weight))
write("fhir", "glucose.json", json.dumps(glucose))
write("fhir", "bundle.json", json.dumps({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": weight}, {"resource": bp}, {"resource": {"resourceType": "Patient"}}]}))
write("fhir", "patient.json", '{"resourceType": "Patient"}')
write("fhir", "duplicate-key.json", json.dumps(bp).replace('"id": "obs-1"', '"id": "obs-1", "id": "obs-2"'))
write("fhir", "no-value.json", json.dumps(dict(weight, valueQuantity={"unit": "lb"})))

# gatt
selector = {"2a35": 0, "2a18": 1, "2a34": 2}
for i, line in enumerate(open(os.path.join(fixtures, "gatt", "captures.jsonl"))):
    capture = json.loads(line)
    write("gatt", f"{i:03d}-{capture['char']}", bytes([selector[capture["char"]]]) + bytes.fromhex(capture["hex"]))
write("gatt", "hex-text", bytes([3]) + b"1E 8A 00 58 00 78 00")

# att: what a peer sends, in the order a session asks for it.
def pdus(*items):
    return b"".join(bytes([len(p)]) + p for p in items)

def error(op, handle, code):
    return struct.pack("<BBHB", 0x01, op, handle, code)

def char(decl, props, value, uuid):
    return struct.pack("<HBHH", decl, props, value, uuid)

meter = [
    struct.pack("<BH", 0x03, 185),                                     # MTU
    struct.pack("<BBHHH", 0x11, 6, 1, 12, 0x1808),                     # services
    error(0x10, 13, 0x0A),
    bytes([0x09, 7]) + char(2, 0x10, 3, 0x2A18) + char(5, 0x10, 6, 0x2A34) + char(8, 0x02, 9, 0x2A51) + char(10, 0x28, 11, 0x2A52),
    error(0x08, 11, 0x0A),
    struct.pack("<BBHH", 0x05, 1, 4, 0x2902),                          # CCCDs
    struct.pack("<BBHH", 0x05, 1, 7, 0x2902),
    struct.pack("<BBHH", 0x05, 1, 12, 0x2902),
    bytes([0x0B, 0x03, 0x04]),                                         # feature
    b"\x13", b"\x13", b"\x13",                                         # CCCD writes
    b"\x13", struct.pack("<BHBBH", 0x1D, 11, 0x05, 0x00, 2),           # number of records
    b"\x13",
    struct.pack("<BH", 0x1B, 3) + bytes.fromhex("02 01 00 E9 07 05 15 07 0C 00 69 B0 11"),
    struct.pack("<BH", 0x1B, 3) + bytes.fromhex("1F 02 00 E9 07 05 15 0C 28 0A FB FF 4A C0 12 01 00"),
    struct.pack("<BH", 0x1B, 6) + bytes.fromhex("06 02 00 02 51"),
    struct.pack("<BH", 0x1D, 11) + bytes([0x06, 0x00, 0x01, 0x01]),
]
cuff = [
    struct.pack("<BH", 0x03, 23),
    struct.pack("<BBHHH", 0x11, 6, 1, 8, 0x1810),
    error(0x10, 9, 0x0A),
    bytes([0x09, 7]) + char(2, 0x20, 3, 0x2A35) + char(5, 0x10, 6, 0x2A36),
    error(0x08, 6, 0x0A),
    struct.pack("<BBHH", 0x05, 1, 4, 0x2902),
    struct.pack("<BBHH", 0x05, 1, 7, 0x2902),
    error(0x12, 7, 0x05), b"\x13", b"\x13",                            # security error, then the retry
    struct.pack("<BH", 0x1D, 3) + bytes.fromhex("1E 8A 00 58 00 78 00 00 00 04 11 14 29 3B 3C 00 01 27 00"),
    struct.pack("<BH", 0x1D, 3) + bytes.fromhex("15 BD F0 0B 00 9F F0 3C 00 12 00"),
]
for name, exchange in (("meter", meter), ("cuff", cuff)):
    write("att", name, pdus(*exchange))
    for cut in (3, 7, 11):
        write("att", f"{name}-first-{cut}", pdus(*exchange[:cut]))
write("att", "advertising", bytes([0x04, 0x3E, 0x20, 0x02, 0x01, 0x00, 0x01, 0x56, 0x34, 0x12, 0x38, 0xC1, 0xA4, 0x14, 0x02, 0x01, 0x06, 0x05, 0x03, 0x10, 0x18, 0x0A, 0x18, 0x0A, 0x09]) + b"BP Cuff 7" + b"\xC4")
