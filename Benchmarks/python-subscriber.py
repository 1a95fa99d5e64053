#!/usr/bin/python3
# The plain subscriber the gateway's MQTT drain is measured against (BENCHMARKS.md): paho-mqtt
# and sqlite3, the same durability as the gateway's receive path. Each message's raw payload is
# committed in its own transaction (WAL, synchronous=FULL: fsync'd) inside on_message; paho-mqtt
# 1.6 (Debian 12's python3-paho-mqtt) sends the PUBACK after on_message returns, so every
# acknowledgement follows its commit. It decides nothing.
#
#   python-subscriber.py --port PORT --client-id ID --topic FILTER --database FILE [--count N]
#
# Without --count it subscribes on its persistent session and leaves (the broker then queues for
# it); with --count it drains N messages and exits.
import argparse
import sqlite3
import sys
import time

import paho.mqtt.client as mqtt

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--client-id", required=True)
parser.add_argument("--topic", required=True)
parser.add_argument("--database", required=True)
parser.add_argument("--count", type=int, default=0)
args = parser.parse_args()

db = sqlite3.connect(args.database, isolation_level=None)
db.execute("PRAGMA journal_mode=WAL")
db.execute("PRAGMA synchronous=FULL")
db.execute("CREATE TABLE IF NOT EXISTS inbox (id INTEGER PRIMARY KEY, received_at REAL NOT NULL, topic TEXT NOT NULL, payload BLOB NOT NULL)")

received = 0
subscribed = False


def on_connect(client, userdata, flags, rc):
    if rc != 0:
        sys.exit(f"connection refused: {rc}")
    client.subscribe(args.topic, qos=1)


def on_subscribe(client, userdata, mid, granted):
    global subscribed
    subscribed = True
    if args.count == 0:
        client.disconnect()


def on_message(client, userdata, message):
    global received
    db.execute("BEGIN")
    db.execute("INSERT INTO inbox (received_at, topic, payload) VALUES (?, ?, ?)", (time.time(), message.topic, message.payload))
    db.execute("COMMIT")
    received += 1
    if received >= args.count:
        client.disconnect()


client = mqtt.Client(client_id=args.client_id, clean_session=False, protocol=mqtt.MQTTv311)
client.max_inflight_messages_set(100)
client.on_connect = on_connect
client.on_subscribe = on_subscribe
client.on_message = on_message
client.connect("127.0.0.1", args.port, keepalive=60)
client.loop_forever()
if args.count and received < args.count:
    sys.exit(f"only {received} of {args.count} messages")
