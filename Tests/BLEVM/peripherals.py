#!/opt/bumble/bin/python3
"""The radio and the devices for scripts/ble-vm, on Bumble 0.0.236 (pinned: see the patch below).

Bumble's controller C0 becomes the kernel's hci0 through /dev/vhci; each device named on the
command line gets a controller of its own on the same in-process LocalLink and serves GATT:

    peripherals.py --keys /var/lib/bumble DEVICE...
    DEVICE: name=cuff,profile=bps,security=justworks,address=F0:00:00:00:00:01[,privacy=1]

profile   bps: Blood Pressure (1810): feature (read), measurement (indicate); the cuff sends its
               stored measurements once indications are on, then disconnects, as cuffs do.
          gls: Glucose (1808): measurement and context (notify), feature (read), RACP (write,
               indicate): number of records, report all, report records >= N. Each connection
               adds one record, so every sync has something new.
          wss: Weight Scale (181d): measurement (indicate), feature (read); the scale sends one
               weight (lb, time stamp) once indications are on, then disconnects.
          plxs: Pulse Oximeter (1822): spot-check (indicate), continuous (notify), features
               (read), RACP (write, indicate; operator "all records"): number of records, report
               all, delete all. Two stored spot-checks; once continuous notifications are on it
               sends three of them and one live spot-check, then disconnects.
security  open: nothing needs encryption. justworks: reads and RACP need an encrypted link (the
          device has no IO: Just Works). passkey: they need an authenticated link; the device
          shows passkey 123456 (DisplayOnly).
privacy   1: advertise with a resolvable private address made from the device's IRK (it
          distributes its IRK and identity address when it bonds).

Bonds are kept in --keys (a JSON key store per device), so they survive a reboot of the VM.
What happens is printed as lines `PERIPHERAL name event ...`, which Tests/BLEVM/guest.sh reads.
"""
import argparse
import asyncio
import datetime
import hashlib
import struct
import sys

from bumble import hci
from bumble.controller import Controller
from bumble.core import AdvertisingData, PhysicalTransport
from bumble.device import Device
from bumble.gatt import Characteristic, CharacteristicValue, Service
from bumble.keys import JsonKeyStore
from bumble.link import LocalLink
from bumble.pairing import PairingConfig, PairingDelegate
from bumble.transport import open_transport
from bumble.transport.common import AsyncPipeSink


def say(*words):
    print("PERIPHERAL", *words, flush=True)


class RoutingLink(LocalLink):
    """LocalLink addresses LE data by the sender controller's random address, but the kernel
    connects with its public address, so the peripheral would drop everything ("no connection
    for ..."). Route by the connection's own address instead (Bumble internals: pinned version)."""

    def send_acl_data(self, sender_controller, destination_address, transport, data):
        if transport != PhysicalTransport.LE:
            return super().send_acl_data(sender_controller, destination_address, transport, data)
        connection = sender_controller.le_connections.get(destination_address)
        source = connection.self_address if connection else sender_controller.random_address
        destination = self.find_le_controller(destination_address)
        if destination is not None:
            asyncio.get_running_loop().call_soon(lambda: destination.on_link_acl_data(source, transport, data))


def sfloat(mantissa, exponent):
    return struct.pack("<H", ((exponent & 0xF) << 12) | (mantissa & 0xFFF))


def stamp(t):
    return struct.pack("<HBBBBB", t.year, t.month, t.day, t.hour, t.minute, t.second)


class Peripheral:
    def __init__(self, spec, link, keys):
        fields = dict(part.split("=", 1) for part in spec.split(","))
        self.name = fields["name"]
        self.profile = fields["profile"]
        self.security = fields.get("security", "open")
        self.privacy = fields.get("privacy", "0") == "1"
        address = fields["address"]
        self.controller = Controller(self.name, link=link)
        self.device = Device.with_hci(self.name, hci.Address(address), self.controller, AsyncPipeSink(self.controller))
        self.device.keystore = JsonKeyStore(self.name, f"{keys}/{self.name}.json")
        # Each device its own IRK, the same at every boot. (An IRK made from the name's length
        # gave pinmeter and rpameter one key: the kernel resolved the latter's private address
        # to the former.)
        self.device.irk = hashlib.sha256(b"ccm-gateway ble-vm irk " + self.name.encode()).digest()[:16]
        if self.security == "passkey":
            delegate = FixedPasskey()
        else:
            delegate = PairingDelegate(io_capability=PairingDelegate.NO_OUTPUT_NO_INPUT)
        mitm = self.security == "passkey"
        self.device.pairing_config_factory = lambda connection: PairingConfig(
            sc=True, mitm=mitm, bonding=True, delegate=delegate, identity_address_type=PairingConfig.AddressType.RANDOM)
        self.records = []
        self.spot_checks = []
        self.next_seq = 1
        self.cccd = {}

    def permission(self, write=False):
        base = Characteristic.WRITEABLE if write else Characteristic.READABLE
        if self.security == "justworks":
            base |= Characteristic.WRITE_REQUIRES_ENCRYPTION if write else Characteristic.READ_REQUIRES_ENCRYPTION
        if self.security == "passkey":
            base |= Characteristic.WRITE_REQUIRES_AUTHENTICATION if write else Characteristic.READ_REQUIRES_AUTHENTICATION
        return base

    def add_record(self, minutes_ago):
        t = datetime.datetime.now() - datetime.timedelta(minutes=minutes_ago)
        seq = self.next_seq
        self.next_seq += 1
        value = struct.pack("<BH", 0x02, seq) + stamp(t) + sfloat(100 + seq, -5) + bytes([0x11])
        self.records.append((seq, value))

    def characteristic(self, uuid, kind, value=b""):
        """A pushed value (INDICATE or NOTIFY), a readable feature (READ), or the RACP (WRITE)."""
        if kind == Characteristic.READ:
            return Characteristic(uuid, kind, self.permission(), value)
        if kind == Characteristic.WRITE:
            return Characteristic(uuid, kind | Characteristic.INDICATE, self.permission(write=True), CharacteristicValue(write=self.on_racp))
        return Characteristic(uuid, kind, Characteristic.READABLE, b"")

    def build(self):
        c, read = self.characteristic, Characteristic.READ
        if self.profile == "wss":
            self.measurement = c("2A9D", Characteristic.INDICATE)
            characteristics = [self.measurement, c("2A9E", read, struct.pack("<I", 0x00000006))]
            self.measurement.on("subscription", self.on_push_subscription)
        elif self.profile == "plxs":
            self.measurement, self.continuous = c("2A5E", Characteristic.INDICATE), c("2A5F", Characteristic.NOTIFY)
            self.racp = c("2A52", Characteristic.WRITE)
            characteristics = [self.measurement, self.continuous, c("2A60", read, struct.pack("<H", 0x000D)), self.racp]
            self.continuous.on("subscription", self.on_push_subscription)
            for minutes in (90, 30):
                t = datetime.datetime.now() - datetime.timedelta(minutes=minutes)
                self.spot_checks.append(bytes([0x01]) + sfloat(95, 0) + sfloat(70, 0) + stamp(t))
        elif self.profile == "bps":
            self.measurement = c("2A35", Characteristic.INDICATE)
            characteristics = [self.measurement, c("2A49", read, struct.pack("<H", 0x0000))]
            self.measurement.on("subscription", self.on_bps_subscription)
        else:
            self.measurement, self.context = c("2A18", Characteristic.NOTIFY), c("2A34", Characteristic.NOTIFY)
            self.racp = c("2A52", Characteristic.WRITE)
            characteristics = [self.measurement, self.context, c("2A51", read, struct.pack("<H", 0x0000)), self.racp]
            for minutes in (50, 40, 30, 20, 10):
                self.add_record(minutes)
        self.service_uuid = {"wss": 0x181D, "plxs": 0x1822, "bps": 0x1810, "gls": 0x1808}[self.profile]
        self.device.add_service(Service(f"{self.service_uuid:04X}", characteristics))

    def on_bps_subscription(self, connection, notify, indicate):
        if indicate:
            asyncio.get_running_loop().create_task(self.send_bps(connection))

    async def send_bps(self, connection):
        t = datetime.datetime.now() - datetime.timedelta(minutes=1)
        value = bytes([0x02 | 0x04]) + sfloat(128, 0) + sfloat(82, 0) + sfloat(97, 0) + stamp(t) + sfloat(71, 0)
        try:
            await self.device.indicate_subscriber(connection, self.measurement, value)
            say(self.name, "sent 1")
            await asyncio.sleep(0.5)
            await connection.disconnect()
        except Exception as error:
            say(self.name, "send-failed", repr(error))

    def on_push_subscription(self, connection, notify, indicate):
        if notify or indicate:
            asyncio.get_running_loop().create_task(self.push(connection))

    async def push(self, connection):
        """A scale's weight, or an oximeter's continuous measurements and a live spot-check; then disconnect."""
        t = datetime.datetime.now() - datetime.timedelta(minutes=1)
        try:
            await asyncio.sleep(0.5)  # the central arms its other CCCDs meanwhile
            if self.profile == "wss":
                await self.device.indicate_subscriber(connection, self.measurement, bytes([0x03]) + struct.pack("<H", 18000) + stamp(t))
                say(self.name, "sent 1")
            else:
                for spo2 in (94, 95, 93):
                    await self.device.notify_subscriber(connection, self.continuous, bytes([0x00]) + sfloat(spo2, 0) + sfloat(72, 0))
                await self.device.indicate_subscriber(connection, self.measurement, bytes([0x01]) + sfloat(96, 0) + sfloat(68, 0) + stamp(t))
                say(self.name, "sent continuous 3 spot-check 1")
            await asyncio.sleep(0.5)
            await connection.disconnect()
        except Exception as error:
            say(self.name, "send-failed", repr(error))

    async def answer_plx_racp(self, connection, value):
        op = value[0]
        if len(value) != 2 or value[1] != 0x01:
            await self.device.indicate_subscriber(connection, self.racp, bytes([0x06, 0x00, op, 0x04]))
        elif op == 0x04:
            await self.device.indicate_subscriber(connection, self.racp, struct.pack("<BBH", 0x05, 0x00, len(self.spot_checks)))
        elif op == 0x01:
            for record in self.spot_checks:
                await self.device.indicate_subscriber(connection, self.measurement, record)
            await self.device.indicate_subscriber(connection, self.racp, bytes([0x06, 0x00, 0x01, 0x01 if self.spot_checks else 0x06]))
            say(self.name, "sent stored", len(self.spot_checks))
        elif op == 0x02:
            self.spot_checks = []
            await self.device.indicate_subscriber(connection, self.racp, bytes([0x06, 0x00, 0x02, 0x01]))
            say(self.name, "deleted stored")
        else:
            await self.device.indicate_subscriber(connection, self.racp, bytes([0x06, 0x00, op, 0x02]))

    def on_racp(self, connection, value):
        asyncio.get_running_loop().create_task(self.answer_racp(connection, bytes(value)))

    async def answer_racp(self, connection, value):
        if self.profile == "plxs":
            return await self.answer_plx_racp(connection, value)
        op = value[0]
        first = struct.unpack_from("<H", value, 3)[0] if len(value) == 5 and value[1] == 0x03 else 0
        chosen = [r for r in self.records if r[0] >= first]
        if op == 0x04:
            await self.device.indicate_subscriber(connection, self.racp, struct.pack("<BBH", 0x05, 0x00, len(chosen)))
        elif op == 0x01:
            for _, measurement in chosen:
                await self.device.notify_subscriber(connection, self.measurement, measurement)
            await self.device.indicate_subscriber(connection, self.racp, bytes([0x06, 0x00, 0x01, 0x01 if chosen else 0x06]))
            say(self.name, "sent", len(chosen))
        else:
            await self.device.indicate_subscriber(connection, self.racp, bytes([0x06, 0x00, op, 0x02]))

    async def start(self):
        self.build()
        await self.device.power_on()
        if self.privacy:
            self.device.random_address = hci.Address.generate_private_address(self.device.irk)
            await self.device.send_command(hci.HCI_LE_Set_Random_Address_Command(random_address=self.device.random_address))
        self.device.on("connection", self.on_connection)
        await self.advertise()
        say(self.name, "advertising", self.device.random_address, "privacy" if self.privacy else "identity")

    async def advertise(self):
        data = AdvertisingData([
            (AdvertisingData.FLAGS, bytes([0x06])),
            (AdvertisingData.COMPLETE_LOCAL_NAME, self.name.encode()),
            (AdvertisingData.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS, struct.pack("<H", self.service_uuid)),
        ])
        await self.device.start_advertising(advertising_data=bytes(data), own_address_type=hci.OwnAddressType.RANDOM, auto_restart=True)

    def on_connection(self, connection):
        say(self.name, "connected", connection.peer_address, "to", connection.self_address)
        if self.profile == "gls":
            self.add_record(0)
        connection.on("pairing", lambda keys: say(self.name, "paired", "authenticated" if connection.authenticated else "unauthenticated"))
        connection.on("pairing_failure", lambda reason: say(self.name, "pairing-failed", reason))
        connection.on("connection_encryption_change", lambda: say(self.name, "encrypted" if connection.encryption else "unencrypted"))
        connection.on("disconnection", lambda reason: say(self.name, "disconnected", reason))


class FixedPasskey(PairingDelegate):
    """A meter that shows a PIN on its screen: the operator reads it and gives it to the gateway."""

    def __init__(self):
        super().__init__(io_capability=PairingDelegate.DISPLAY_OUTPUT_ONLY)

    async def generate_passkey(self):
        return 123456

    async def display_number(self, number, digits=6):
        say("meter-display", number)


async def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", required=True, help="directory of the devices' key stores")
    parser.add_argument("devices", nargs="+")
    args = parser.parse_args()
    link = RoutingLink()
    transport = await open_transport("vhci")
    radio = Controller("C0", host_source=transport.source, host_sink=transport.sink, link=link,
                       public_address="C0:FF:EE:00:00:01")
    # Behave like a BT 4.x dongle, for two gaps in Bumble's controller. Announcing extended
    # advertising makes it send only extended reports. Announcing LL privacy makes Linux 6.x
    # wait for LE Enhanced Connection Complete after LE Create Connection, which Bumble never
    # sends (it sends LE Connection Complete): the kernel's command queue then stalls for the
    # connection timeout, and Start Discovery or the next connection waits 20 s. Without LL
    # privacy the kernel resolves private addresses itself, with the IRKs it was given.
    radio.le_features = radio.le_features & ~(hci.LeFeatureMask.LE_EXTENDED_ADVERTISING | hci.LeFeatureMask.LL_PRIVACY)
    peripherals = [Peripheral(spec, link, args.keys) for spec in args.devices]
    for peripheral in peripherals:
        await peripheral.start()
    say("radio", "ready")
    await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
