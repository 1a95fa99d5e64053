import Foundation
import GatewayBLE
import GatewayConfig
import GatewayCore
import GatewayStore
import Logging
import ServiceLifecycle
import Synchronization

/// What BLE is doing, for `STATUS=` and the metrics.
final class BLEStatus: Sendable {
    enum Mode: Sendable { case off, unavailable, on }
    private struct State {
        var mode = Mode.off
        var devices = 0
        var sessions = 0
        var failures = 0
    }

    private let state = Mutex(State())

    func set(_ mode: Mode) { state.withLock { $0.mode = mode } }
    func devices(_ count: Int) { state.withLock { $0.devices = count } }
    func session(failed: Bool) {
        state.withLock {
            $0.sessions += 1
            if failed { $0.failures += 1 }
        }
    }

    var counts: (sessions: Int, failures: Int) { state.withLock { ($0.sessions, $0.failures) } }
    var isOn: Bool { state.withLock { $0.mode == .on } }

    /// `BLE off`, `BLE unavailable`, `BLE on (2 devices)`.
    var summary: String {
        state.withLock { state in
            switch state.mode {
            case .off: "BLE off"
            case .unavailable: "BLE unavailable"
            case .on: "BLE on (\(state.devices) device\(state.devices == 1 ? "" : "s"))"
            }
        }
    }
}

/// BLE in the daemon: a scanner thread noting health devices heard advertising, and a worker
/// thread that keeps a schedule per assigned device (a session when it is due, the next one
/// after `interval` when it went well, after a wait doubling from 5 s up to `max_backoff`
/// when it did not, and at once when the device is heard advertising). Sessions run one at a
/// time: one adapter, one connection attempt at a time. Blocking socket work stays off the
/// cooperative pool. Without an adapter it logs one warning and stays out of the way.
struct BLEService: Service {
    let config: GatewayConfig.BLE
    let sync: BLESync
    let readiness: Readiness
    let status: BLEStatus
    let logger: Logger

    static let name = "ble"

    func run() async throws {
        // BLE never holds up READY=1: the daemon serves MQTT without it.
        readiness.mark(Self.name)
        if let reason = BluetoothAdapter.unavailableReason() {
            status.set(.unavailable)
            logger.warning("no Bluetooth LE; running without BLE", metadata: ["reason": "\(reason)"])
            try? await gracefulShutdown()
            return
        }
        status.set(.on)
        let shared = Shared()
        if config.scan { shared.start { [self] in scan(shared) } }
        shared.start { [self] in work(shared) }
        logger.info("BLE started", metadata: ["scan": "\(config.scan)"])
        try? await gracefulShutdown()
        shared.running.store(false, ordering: .sequentiallyConsistent)
        // A session in progress ends at its next timeout at worst; do not hold the stop for it.
        for _ in 0..<50 where shared.threads.withLock({ $0 }) > 0 {
            try? await Task.sleep(for: .milliseconds(100))
        }
        logger.notice("BLE stopped")
    }

    /// What the scanner and worker threads share.
    final class Shared: Sendable {
        let running = Atomic<Bool>(true)
        /// Assigned devices heard advertising since the worker last looked.
        let heard = Mutex<Set<String>>([])
        let threads = Mutex(0)

        var isRunning: Bool { running.load(ordering: .sequentiallyConsistent) }

        func start(_ body: @escaping @Sendable () -> Void) {
            threads.withLock { $0 += 1 }
            Thread.detachNewThread { [self] in
                body()
                threads.withLock { $0 -= 1 }
            }
        }
    }

    /// Notes health devices heard advertising (each at most once a minute in the store) and
    /// tells the worker which ones were heard.
    private func scan(_ shared: Shared) {
        let scanner: LEScanner
        do {
            scanner = try LEScanner()
        } catch {
            logger.warning("BLE scanning unavailable; assigned devices are still tried on schedule", metadata: ["error": "\(error)"])
            return
        }
        var written: [String: Date] = [:]
        while shared.isRunning {
            let reports: [AdvertisingReport]
            do {
                reports = try scanner.next(wait: .seconds(1))
            } catch {
                logger.warning("BLE scanning stopped", metadata: ["error": "\(error)"])
                return
            }
            for report in reports where report.isHealthDevice {
                _ = shared.heard.withLock { $0.insert(report.address) }
                guard written[report.address].map({ Date().timeIntervalSince($0) > 60 }) ?? true else { continue }
                written[report.address] = Date()
                let device = DiscoveredDevice(
                    address: report.address, addressType: report.randomAddress ? "random" : "public", name: report.name,
                    services: report.services.map { String(format: "%04x", $0) }.joined(separator: ","), rssi: report.rssi, seenAt: Date())
                do { try sync.pipeline.database.recordDiscovered(device) } catch {
                    logger.warning("discovered device not recorded", metadata: ["address": "\(report.address)", "error": "\(error)"])
                }
            }
        }
    }

    /// Runs each assigned device's session when it is due.
    private func work(_ shared: Shared) {
        var schedule: [String: (due: ContinuousClock.Instant, backoff: Double)] = [:]
        var devices: [Device] = []
        var refreshed = ContinuousClock.now - .seconds(3600)
        while shared.isRunning {
            if ContinuousClock.now - refreshed > .seconds(30) {
                do {
                    devices = try sync.pipeline.database.assignedBLEDevices()
                    status.devices(devices.count)
                } catch {
                    logger.warning("cannot list BLE devices", metadata: ["error": "\(error)"])
                }
                refreshed = .now
            }
            let justHeard = shared.heard.withLock { heard in
                defer { heard.removeAll() }
                return heard
            }
            let now = ContinuousClock.now
            guard
                let device = devices.first(where: { device in
                    guard let address = device.bleAddress else { return false }
                    return justHeard.contains(address) || (schedule[device.id]?.due ?? now) <= now
                }), let address = device.bleAddress
            else {
                Thread.sleep(forTimeInterval: 1)
                continue
            }
            let failed = session(device, address: address)
            status.session(failed: failed)
            let backoff = failed ? min(config.maxBackoff, max(5, (schedule[device.id]?.backoff ?? 2.5) * 2)) : 0
            schedule[device.id] = (.now + .seconds(failed ? backoff : config.interval), backoff)
        }
    }

    /// One connection and session; true when it failed.
    private func session(_ device: Device, address: String) -> Bool {
        do {
            let random = try sync.pipeline.database.discoveredAddressType(address) == "random"
            let bearer = try L2CAP.connect(address: address, random: random, timeout: .seconds(config.connectTimeout))
            return try sync.run(device: device, address: address, bearer: bearer).report.failure != nil
        } catch {
            logger.info("BLE connection failed; will retry", metadata: ["device": "\(device.id)", "error": "\(error)"])
            try? sync.pipeline.database.recordBLESession(device: device.id, at: Date(), records: 0, error: "\(error)")
            return true
        }
    }
}
