#!/usr/bin/env python3
"""Writes month.jsonl: March 2026 of home readings for five patients, each month shaped to
exercise the care-plan rules (crisis, goal drift, hypoglycemia, missed checks, heart-failure
weight gain, low SpO2) between stretches of ordinary values. Deterministic: no randomness.
Run it again after changing it; the golden alert log is month.golden.log."""
import json
from datetime import datetime, timedelta, timezone

CST = timezone(timedelta(hours=-6))
START = datetime(2026, 3, 1, tzinfo=CST)
lines = []


def emit(device, kind, day, hour, minute, unit, values, **extra):
    at = START + timedelta(days=day - 1, hours=hour, minutes=minute)
    reading = {"v": 1, "device": device, "kind": kind, "measured_at": at.isoformat(), "unit": unit, "values": values}
    reading.update(extra)
    lines.append((at, reading))


# H1, hypertension: ordinary mornings and evenings, a crisis on day 10 (rechecked), then
# two weeks above goal from day 15, back to goal from day 22.
for day in range(1, 32):
    for hour, base in ((7, 0), (19, -3)):
        systolic, diastolic = 118 + base + day % 3, 72 + (day % 2)
        if day == 10 and hour == 7:
            systolic, diastolic = 183, 118
        elif day == 10 and hour == 19:
            systolic, diastolic = 168, 102
        elif 15 <= day <= 21:
            systolic, diastolic = 142 + day % 4, 84
        emit("A4:C1:38:00:00:01", "blood_pressure", day, hour, 5, "mmHg", {"systolic": systolic, "diastolic": diastolic, "pulse": 70})

# D1, diabetes type 2: fasting mornings, after-meal evenings; a low on day 5 and a worse one on
# day 6; no checks from day 12 to day 16; a very high after-meal value on day 22; three
# fasting highs in a row from day 25.
seq = 0
for day in range(1, 32):
    if 12 <= day <= 16:
        continue
    seq += 1
    fasting = 112 + day % 5
    if day == 5:
        fasting = 64
    if day == 6:
        fasting = 51
    if day >= 25:
        fasting = 138 + day % 3
    emit("C0:26:DA:00:00:02", "glucose", day, 6, 45, "mg/dL", {"glucose": fasting}, meal="fasting", seq=seq)
    seq += 1
    after = 165 - day % 7
    if day == 22:
        after = 318
    emit("C0:26:DA:00:00:02", "glucose", day, 19, 30, "mmol/L", {"glucose": round(after / 18.016, 1)}, meal="after_meal", seq=seq)

# I1, insulin-treated diabetes and hypertension: one glucose a day, none on day 18; ordinary BP.
for day in range(1, 32):
    if day != 18:
        emit("C0:26:DA:00:00:03", "glucose", day, 7, 15, "mg/dL", {"glucose": 118 + day % 6}, meal="before_meal", seq=day)
    emit("A4:C1:38:00:00:03", "blood_pressure", day, 7, 20, "kPa", {"systolic": 16.4, "diastolic": 10.4})

# F1, heart failure: daily weights in lb; +2.4 lb overnight on day 8, a steady climb of 6 lb over
# days 14-19, no weigh-ins on days 25-27.
weight = 201.0
for day in range(1, 32):
    if day == 8:
        weight += 2.4
    elif day == 9:
        weight -= 2.2
    elif 14 <= day <= 19:
        weight += 1.0
    elif day == 20:
        weight -= 5.8
    if 25 <= day <= 27:
        continue
    emit("hub2-scale", "weight", day, 6, 30, "lb", {"weight": round(weight, 1)})

# C1, COPD: SpO2 each morning, 89 % on day 6, 87 % on day 7, back to 93 % after.
for day in range(1, 32):
    spo2 = {6: 89, 7: 87}.get(day, 93 + day % 3)
    emit("hub2-oximeter", "spo2", day, 8, 0, "%", {"spo2": spo2, "pulse": 74})

with open("month.jsonl", "w") as out:
    for _, reading in sorted(lines, key=lambda item: item[0]):
        out.write(json.dumps(reading) + "\n")
print(f"month.jsonl: {len(lines)} readings")
