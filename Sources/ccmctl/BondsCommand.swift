import ArgumentParser
import Foundation
import GatewayCore
import GatewayStore

extension DevicesCommand {
    struct Pair: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Pair a Bluetooth device: the daemon connects to it at once and bonds.",
            discussion: """
                The request lasts --minutes. The daemon (or ccm-gatewayd ble-sync) connects, asks for an \
                encrypted link, and answers the device's pairing: Just Works for a device without a screen, \
                or the passkey given here for a meter that shows a PIN (wake it into pairing mode, read the \
                six digits, run this). The keys are stored in the database and loaded at every start, so \
                the device does not pair again. Registered devices also pair on their own when they ask \
                for encryption (Just Works only); a passkey always needs this command. With bluetoothd \
                running, pair with bluetoothctl instead: it owns pairing and keys.
                """)

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The device id (or its Bluetooth address).")
        var id: String

        @Option(help: ArgumentHelp("The six-digit PIN the device shows.", valueName: "digits"))
        var passkey: String?

        @Option(help: "How long the request stays open.")
        var minutes: Int = 10

        func validate() throws {
            if let passkey {
                guard passkey.count == 6, passkey.allSatisfy({ $0.isASCII && $0.isNumber }) else {
                    throw ValidationError(
                        "--passkey: \"\(passkey)\" is not six digits; give the PIN the device shows, like 123456")
                }
            }
            guard (1...60).contains(minutes) else { throw ValidationError("--minutes: give 1 to 60") }
        }

        func run() throws {
            let database = try global.open(.existing)
            let address = try bluetoothAddress(of: id, database)
            try database.requestPairing(
                address: address, passkey: passkey.flatMap(UInt32.init),
                until: Date().addingTimeInterval(Double(minutes) * 60),
                by: global.actor)
            print(
                "pairing requested for \(address) for \(minutes) min\(passkey == nil ? " (Just Works)" : " with the passkey given"); the daemon connects at once"
            )
        }
    }

    struct Unpair: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Forget a Bluetooth device's bond: its keys leave the database, and the daemon removes them from the kernel."
        )

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The device id (or its Bluetooth address).")
        var id: String

        func run() throws {
            let database = try global.open(.existing)
            let address = try bluetoothAddress(of: id, database)
            let deleted = try database.deleteBond(address: address, by: global.actor)
            print(
                deleted == 0
                    ? "no bond with \(address)"
                    : "bond with \(address) forgotten (\(deleted) keys); pair again with ccmctl devices pair \(id)")
        }
    }

    struct Bonds: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the Bluetooth bonds the daemon keeps (which keys, never the keys themselves).")

        @OptionGroup var global: GlobalOptions

        @Option(help: "table, json or csv.")
        var format: OutputFormat = .table

        func run() throws {
            let bonds = try global.open(.existing).bondSummaries()
            let listing = Listing(
                columns: ["address", "address_type", "device", "ltks", "irks", "authenticated", "bonded_at"],
                rows: bonds.map { bond in
                    [
                        .text(bond.address), .text(bond.addressType), .optional(bond.deviceID), .int(bond.longTermKeys),
                        .int(bond.identityKeys),
                        .bool(bond.authenticated), .date(bond.bondedAt),
                    ]
                },
                emptyMessage:
                    "no bonds; devices bond when they first ask for encryption, or with ccmctl devices pair ID")
            print(listing.render(format))
        }
    }
}

/// The Bluetooth address of a registered device (by id or address).
private func bluetoothAddress(of id: String, _ database: GatewayDatabase) throws -> String {
    let canonical = DeviceID.canonical(id)
    if let device = try database.device(bleAddress: canonical), let address = device.bleAddress { return address }
    guard DeviceID.isBluetoothAddress(canonical) else {
        throw ValidationError(
            "\(id): no registered device with a Bluetooth address; register it with ccmctl devices add ID --kind KIND --address ADDRESS"
        )
    }
    return canonical
}
