#!/usr/bin/env python3
"""A simulated Bluetooth glucometer for `ccm-gatewayd ble-sync unix:PATH`.

It listens on a Unix SOCK_SEQPACKET socket and answers one connection, one ATT PDU per
datagram in each direction, with a Glucose service (0x1808) holding stored records: discovery,
CCCD writes and the Record Access Control Point (number of records, report all, report records
with sequence number >= N), as a real meter does over L2CAP. The demo uses it; it is also a
starting point for testing ccm-gatewayd against peripherals of your own.

    scripts/ble-peripheral.py PATH --zone America/Chicago 41:62:fasting@180 42:178@60 43:250:after_meal@20

Each record is SEQ:MG_PER_DL[:MEAL]@MINUTES_AGO. MEAL is fasting, before_meal, after_meal or
bedtime, and sends a Glucose Measurement Context.
"""
import argparse
import datetime
import os
import socket
import struct
import zoneinfo

MEALS = {"before_meal": 1, "after_meal": 2, "fasting": 3, "bedtime": 5}
# Handles: 1 service; 2/3/4 measurement decl/value/CCCD; 5/6/7 context; 8/9 feature; 10/11/12 RACP.
SERVICE = (1, 12, 0x1808)
CHARACTERISTICS = [(2, 0x10, 3, 0x2A18), (5, 0x10, 6, 0x2A34), (8, 0x02, 9, 0x2A51), (10, 0x28, 11, 0x2A52)]
DESCRIPTORS = {4: 0x2902, 7: 0x2902, 12: 0x2902}


def sfloat(mantissa, exponent):
    return struct.pack("<H", ((exponent & 0xF) << 12) | (mantissa & 0xFFF))


def records(specs, zone):
    now = datetime.datetime.now(zoneinfo.ZoneInfo(zone))
    out = []
    for spec in specs:
        head, minutes = spec.split("@")
        seq, mgdl, *meal = head.split(":")
        t = now - datetime.timedelta(minutes=int(minutes))
        flags = 0x02 | (0x10 if meal else 0)
        value = struct.pack("<BHHBBBBB", flags, int(seq), t.year, t.month, t.day, t.hour, t.minute, t.second)
        value += sfloat(int(mgdl), -5) + bytes([0x11])  # kg/L; capillary whole blood, finger
        context = struct.pack("<BHB", 0x02, int(seq), MEALS[meal[0]]) if meal else None
        out.append((int(seq), value, context))
    return out


def serve(conn, stored):
    cccd = {}

    def send(pdu):
        conn.send(bytes(pdu))

    def indicate(handle, value):
        send(struct.pack("<BH", 0x1D, handle) + value)
        while True:
            pdu = conn.recv(1024)
            if not pdu or pdu[0] == 0x1E:
                return bool(pdu)

    def error(op, handle, code):
        send(struct.pack("<BBHB", 0x01, op, handle, code))

    while True:
        pdu = conn.recv(1024)
        if not pdu:
            return
        op, p = pdu[0], pdu[1:]
        if op == 0x02:
            send(struct.pack("<BH", 0x03, 185))
        elif op == 0x10:
            start = struct.unpack_from("<H", p)[0]
            if start <= SERVICE[0]:
                send(struct.pack("<BBHHH", 0x11, 6, *SERVICE))
            else:
                error(op, start, 0x0A)
        elif op in (0x08, 0x04):
            start, end = struct.unpack_from("<HH", p)
            if op == 0x08:
                found = [struct.pack("<HBHH", *c) for c in CHARACTERISTICS if start <= c[0] <= end]
                reply = bytes([0x09, 7]) + b"".join(found)
            else:
                found = [struct.pack("<HH", h, t) for h, t in sorted(DESCRIPTORS.items()) if start <= h <= end]
                reply = bytes([0x05, 1]) + b"".join(found)
            send(reply) if found else error(op, start, 0x0A)
        elif op == 0x0A:
            handle = struct.unpack_from("<H", p)[0]
            send(b"\x0b\x00\x00") if handle == 9 else error(op, handle, 0x02)
        elif op == 0x12:
            handle, value = struct.unpack_from("<H", p)[0], p[2:]
            if handle in DESCRIPTORS:
                cccd[handle] = value
                send(b"\x13")
            elif handle == 11:
                if cccd.get(4) != b"\x01\x00" or cccd.get(12) != b"\x02\x00":
                    error(op, handle, 0x81)
                    continue
                send(b"\x13")
                first = struct.unpack_from("<H", value, 3)[0] if len(value) == 5 and value[1] == 0x03 else 0
                chosen = [r for r in stored if r[0] >= first]
                if value[0] == 0x04:
                    if not indicate(11, struct.pack("<BBH", 0x05, 0x00, len(chosen))):
                        return
                elif value[0] == 0x01:
                    for _, measurement, context in chosen:
                        send(struct.pack("<BH", 0x1B, 3) + measurement)
                        if context:
                            send(struct.pack("<BH", 0x1B, 6) + context)
                    if not indicate(11, bytes([0x06, 0x00, 0x01, 0x01 if chosen else 0x06])):
                        return
                else:
                    if not indicate(11, bytes([0x06, 0x00, value[0], 0x02])):
                        return
            else:
                error(op, handle, 0x03)
        elif op not in (0x1E, 0x52):
            error(op, 0, 0x06)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path")
    parser.add_argument("--zone", default="UTC", help="the meter's clock zone (the practice's)")
    parser.add_argument("records", nargs="+", help="SEQ:MG_PER_DL[:MEAL]@MINUTES_AGO")
    args = parser.parse_args()
    stored = records(args.records, args.zone)
    if os.path.exists(args.path):
        os.unlink(args.path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(args.path)
    listener.listen(1)
    conn, _ = listener.accept()
    with conn:
        serve(conn, stored)
    os.unlink(args.path)


if __name__ == "__main__":
    main()
