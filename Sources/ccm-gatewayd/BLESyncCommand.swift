import ArgumentParser
import Foundation
import GatewayBLE
import GatewayConfig
import GatewayCore
import GatewayPipeline
import GatewayStore
import Logging

/// `ccm-gatewayd ble-sync TARGET`: one BLE session, stored through the pipeline, with a summary.
struct BLESyncCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ble-sync",
        abstract:
            "Run one BLE session with a cuff, meter, scale, oximeter or thermometer, store what it sends, and print a summary.",
        discussion: """
            The operator's diagnostic, and the entry point for external test peripherals. TARGET is a \
            Bluetooth address (A4:C1:38:12:34:56), reached over an L2CAP LE socket, or unix:/path, a \
            peripheral listening on a Unix SOCK_SEQPACKET socket that carries one ATT PDU per datagram \
            in each direction. Readings go through the same pipeline as the daemon's, for the patient \
            the device is assigned to (a multi-user cuff's readings: the patient mapped to its user \
            index); glucose downloads start after the last record stored, after a check that the meter \
            was not reset: a reset (or a sequence number that wrapped past 65535) is printed as METER \
            RESET DETECTED, audited, starts a new record epoch and downloads every record. A pulse \
            oximeter's stored spot-checks are downloaded through its Record Access Control Point and \
            then deleted from it; one of its continuous measurements is stored per \
            ble.continuous_spo2_interval. Scales, thermometers and live spot-checks are taken as the \
            device indicates them until it disconnects or falls silent for --idle seconds. Exits 1 \
            when the session ended with an error (what arrived before it is kept). Run it while the \
            daemon is stopped, or for a device the daemon is not connected to; unlike the daemon it \
            does not take the database's lock (like ccmctl it is a short-lived writer that SQLite \
            serializes with the daemon). The database must exist (ccmctl init creates it). For a \
            Bluetooth address without bluetoothd running, it owns the adapter for the session as the \
            daemon does: powers it on, answers pairing (Just Works for registered devices, the passkey \
            from ccmctl devices pair --passkey), stores new bond keys and loads the stored ones. The \
            address type comes from --random/--public, else the bond, else the last advertising heard, \
            else a scan of up to 10 s.
            """)

    @Argument(help: ArgumentHelp("A Bluetooth address, or unix:/path.", valueName: "target"))
    var target: String

    @Option(
        help: ArgumentHelp(
            "The registered device (default: the device with the target's Bluetooth address).", valueName: "id"))
    var device: String?

    @Flag(
        help:
            "The device uses a random (not public) address. Default: as bonded, else as last heard advertising, else heard now."
    )
    var random = false

    @Flag(name: .customLong("public"), help: "The device uses a public address (see --random).")
    var publicAddress = false

    @Option(
        help: ArgumentHelp("The SQLite database (default: database.path from the configuration).", valueName: "path"))
    var db: String?

    @Option(help: ArgumentHelp("ATT transaction and RACP procedure timeout.", valueName: "seconds"))
    var timeout: Double = 30

    @Option(help: ArgumentHelp("How long a cuff may stay silent before the session ends.", valueName: "seconds"))
    var idle: Double = 10

    @OptionGroup var options: ConfigOption

    func validate() throws {
        guard timeout > 0, idle > 0 else { throw ValidationError("--timeout and --idle must be positive") }
        guard !(random && publicAddress) else { throw ValidationError("--random and --public: give at most one") }
        if target.hasPrefix("unix:") {
            guard device != nil else {
                throw ValidationError("--device: required with a unix: target; give the registered device id")
            }
        } else if !DeviceID.isBluetoothAddress(DeviceID.canonical(target)) {
            throw ValidationError(
                "\"\(target)\" is neither a Bluetooth address (like A4:C1:38:12:34:56) nor unix:/path")
        }
    }

    func run() throws {
        CCMGatewayd.restrictUmask()
        let settings = try GatewayConfig.resolve(explicitPath: options.config)
        CCMGatewayd.bootstrapLogging(level: settings.logging.level)
        let logger = Logger(label: "ccm-gatewayd.ble-sync")
        let database = try GatewayDatabase(path: db ?? settings.database.path, mode: .existing)
        let alertLog = settings.alertLog()
        // After each commit: the alert log and the journal from the outbox (MQTT is the daemon's).
        let journal = JournalAlertSink(logger: logger)
        let sink = AlertLogOutbox(
            database: database, log: alertLog,
            onError: { message in
                logger.error("alert log not written; its events wait for the daemon", metadata: ["error": "\(message)"])
            },
            also: {
                do { try database.deliverAlerts(to: .journal) { journal.log($0) } } catch {
                    logger.error(
                        "alert events not journaled; the daemon journals them", metadata: ["error": "\(error)"])
                }
            })
        let pipeline = settings.pipeline(database: database, templates: try settings.loadTemplates(), sink: sink)

        let address = target.hasPrefix("unix:") ? nil : DeviceID.canonical(target)
        let registered =
            try device.map { try database.device($0) } ?? address.flatMap { try database.device(bleAddress: $0) }
        guard let registered else {
            throw GatewaydError(
                "no registered device \(device ?? address ?? target); register it with ccmctl devices add ID --kind KIND --address ADDRESS --patient PATIENT"
            )
        }
        guard let patient = registered.patientID else {
            throw GatewaydError(
                "device \(registered.id) is not assigned to a patient",
                fix: "run ccmctl devices assign \(registered.id) --patient PATIENT first")
        }
        let bearer: ATTBearer
        var agent: AdapterAgent?
        defer { agent?.stop() }
        if let address {
            // Without bluetoothd, this process owns the adapter for the session: powers it, answers pairing.
            if bluetoothdRunning() {
                logger.notice("bluetoothd runs: it owns the adapter, pairing and bond keys; this session only connects")
            } else {
                let owner = AdapterAgent(database: database, logger: logger)
                do {
                    let socket = try owner.open()
                    agent = owner
                    Thread.detachNewThread { owner.serve(socket) }
                    // A controller still initialising (just plugged in, just booted) is set up when
                    // it announces itself: wait up to 10 s for it to be up.
                    let deadline = ContinuousClock.now + .seconds(10)
                    while BluetoothAdapter.unavailableReason() != nil, ContinuousClock.now < deadline {
                        Thread.sleep(forTimeInterval: 0.2)
                    }
                } catch {
                    logger.warning(
                        "Bluetooth management unavailable; the adapter must already be powered and pairing is not answered",
                        metadata: ["error": "\(error)"])
                }
            }
            let random = try addressType(address, database: database)
            let secure = try database.pendingPairings().contains(address) || database.hasBond(address: address)
            bearer = try L2CAP.connect(
                address: address, random: random, timeout: .seconds(settings.ble.connectTimeout), secure: secure)
        } else {
            bearer = try UnixSeqpacket.connect(path: String(target.dropFirst("unix:".count)))
        }
        var sync = BLESync(pipeline: pipeline, logger: logger)
        sync.timeout = .milliseconds(Int(timeout * 1000))
        sync.idle = .milliseconds(Int(idle * 1000))
        sync.continuousInterval = settings.ble.continuousSpO2Interval
        let summary = try sync.run(device: registered, address: address ?? target, bearer: bearer)
        print("device \(registered.id) (patient \(patient)) via \(target)")
        for line in summary.lines { print(line) }
        if summary.report.failure != nil { throw ExitCode(1) }
    }

    /// Whether to connect with a random address: as given, as bonded, as last heard advertising,
    /// else as heard now (a scan of up to 10 s); unknown is an error that says what to give.
    private func addressType(_ address: String, database: GatewayDatabase) throws -> Bool {
        if random || publicAddress { return random }
        if let known = try database.bondAddressType(address) ?? database.discoveredAddressType(address) {
            return known == "random"
        }
        let scanner = try LEScanner()
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if let report = try scanner.next(wait: .seconds(1)).first(where: { $0.address == address }) {
                scanner.stop()
                print("\(address) heard advertising with a \(report.randomAddress ? "random" : "public") address")
                // Noted like the daemon's scanner does, so the next session knows it.
                try? database.recordDiscovered(
                    DiscoveredDevice(
                        address: address, addressType: report.randomAddress ? "random" : "public", name: report.name,
                        services: report.services.map { String(format: "%04x", $0) }.joined(separator: ","),
                        rssi: report.rssi,
                        seenAt: Date()))
                return report.randomAddress
            }
        }
        throw GatewaydError(
            "the address type of \(address) is unknown: it was not heard advertising within 10 s and has no bond",
            fix: "give --random or --public")
    }
}
