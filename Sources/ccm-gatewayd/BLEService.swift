import Foundation
import GatewayBLE
import GatewayConfig
import GatewayCore
import GatewayPipeline
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
/// when it did not, and at once when the device is heard advertising or an operator asked to
/// pair it). Sessions run one at a time: one adapter, one connection attempt at a time.
/// Blocking socket work stays off the cooperative pool.
///
/// The adapter is watched, never given up: without one the service says so once and looks
/// again every 2 s, and when it goes away the scanner and worker stop until it is back. When
/// bluetoothd does not run, an ``AdapterAgent`` owns the adapter through the management API
/// (powered, LE, bondable, bond keys loaded, pairing answered); when it runs, it owns them.
struct BLEService: Service {
    let config: GatewayConfig.BLE
    let sync: BLESync
    let readiness: Readiness
    let status: BLEStatus
    let logger: Logger

    static let name = "ble"

    func run() async throws {
        // BLE never holds up READY=1: the daemon serves MQTT without it.
        if BluetoothAdapter.unavailableReason() != nil { status.set(.unavailable) }
        readiness.mark(Self.name)
        let shared = Shared()
        let agent = AdapterAgent(database: sync.pipeline.database, logger: logger)
        shared.start { [self] in supervise(shared, agent: agent) }
        logger.info("BLE started", metadata: ["ble.scan": "\(config.scan)"])
        try? await gracefulShutdown()
        shared.stop()
        agent.stop()
        // The threads end at their next look (a second at most); a session in progress ends at
        // its next timeout at worst: wait up to 5 s, do not hold the stop for it.
        if await shared.stopped(within: .seconds(5)) {
            logger.notice("BLE stopped")
        } else {
            logger.notice("BLE stopped; a session still in progress ends at its timeout")
        }
    }

    /// Owns the adapter (when bluetoothd does not), waits for it to be up, runs the scanner and
    /// the worker while it is, and starts again when it comes back.
    private func supervise(_ shared: Shared, agent: AdapterAgent) {
        var lastReason: String?
        var lastOwner: String?
        var managementWarned = false
        while shared.isRunning {
            let bluetoothd = bluetoothdRunning()
            let owner = bluetoothd ? "bluetoothd" : "ccm-gatewayd"
            if owner != lastOwner {
                lastOwner = owner
                logger.notice(
                    bluetoothd
                        ? "bluetoothd runs: it owns the adapter, pairing and bond keys; ccm-gatewayd only connects"
                        : "no bluetoothd: ccm-gatewayd owns the adapter (powers it, pairs, keeps bond keys)")
                if bluetoothd {
                    try? sync.pipeline.database.recordAdapter(
                        BLEAdapterState(
                            adapter: nil, address: nil, powered: BluetoothAdapter.unavailableReason() == nil,
                            settings: "as bluetoothd set it",
                            owner: owner, detail: nil, updatedAt: Date()))
                }
            }
            if !bluetoothd, !shared.agentRunning.load(ordering: .sequentiallyConsistent) {
                do {
                    let socket = try agent.open()
                    shared.agentRunning.store(true, ordering: .sequentiallyConsistent)
                    shared.start { [logger] in
                        agent.serve(socket, while: { !bluetoothdRunning() })
                        shared.agentRunning.store(false, ordering: .sequentiallyConsistent)
                        logger.info("adapter agent stopped")
                    }
                } catch {
                    // Without Bluetooth in the kernel the warning below says it all; otherwise (no
                    // CAP_NET_ADMIN) pairing and bonds cannot work, which deserves its own warning.
                    let kernelHasBluetooth = BluetoothAdapter.kernelHasBluetooth
                    if !managementWarned {
                        logger.log(
                            level: kernelHasBluetooth ? .warning : .info,
                            "Bluetooth management unavailable: the adapter is not powered, pairing is not answered, bonds are not loaded",
                            metadata: ["error": "\(error)"])
                        managementWarned = true
                    }
                }
            }
            if let reason = BluetoothAdapter.unavailableReason() {
                if reason != lastReason {
                    status.set(.unavailable)
                    logger.warning("no Bluetooth LE adapter; BLE waits for one", metadata: ["reason": "\(reason)"])
                    lastReason = reason
                }
                shared.pause(.seconds(2))
                continue
            }
            lastReason = nil
            status.set(.on)
            logger.notice("Bluetooth adapter up; BLE scanning and sessions run")
            let generation = shared.generation.add(1, ordering: .sequentiallyConsistent).newValue
            if config.scan { shared.start { [self] in scan(shared, generation: generation) } }
            work(shared)
            if shared.isRunning {
                logger.warning("Bluetooth adapter gone; BLE waits for it to come back")
                lastReason = "gone"
                status.set(.unavailable)
            }
        }
    }

    /// What the scanner and worker threads share, and how they are woken and waited for: a
    /// thread pauses on a condition that `stop()` and a device heard advertising signal, and
    /// the service waits for the last thread to end on a continuation, not by polling.
    final class Shared: @unchecked Sendable {
        // Safety: `heardAddresses`, `threadCount` and `whenStopped` are used with `condition` locked.
        private let running = Atomic<Bool>(true)
        private let condition = NSCondition()
        private var heardAddresses: Set<String> = []
        private var threadCount = 0
        private var whenStopped: [@Sendable () -> Void] = []
        /// Bumped each time the adapter comes up: a scanner of an earlier one stops.
        let generation = Atomic<Int>(0)
        /// Whether the adapter agent serves the management socket.
        let agentRunning = Atomic<Bool>(false)
        /// Whether the worker is connecting to or talking with a device: the scanner then does
        /// not start discovery again (the kernel ends it to connect).
        let connecting = Atomic<Bool>(false)

        var isRunning: Bool { running.load(ordering: .sequentiallyConsistent) }

        func start(_ body: @escaping @Sendable () -> Void) {
            condition.withLock { threadCount += 1 }
            Thread.detachNewThread { [self] in
                body()
                let waiting = condition.withLock {
                    threadCount -= 1
                    guard threadCount == 0 else { return [@Sendable () -> Void]() }
                    defer { whenStopped = [] }
                    return whenStopped
                }
                waiting.forEach { $0() }
            }
        }

        /// Tells every thread to end and wakes those pausing.
        func stop() {
            running.store(false, ordering: .sequentiallyConsistent)
            condition.withLock { condition.broadcast() }
        }

        /// Notes a device heard advertising and wakes the worker.
        func heard(_ address: String) {
            condition.withLock {
                heardAddresses.insert(address)
                condition.broadcast()
            }
        }

        /// The devices heard since the last call.
        func takeHeard() -> Set<String> {
            condition.withLock {
                defer { heardAddresses = [] }
                return heardAddresses
            }
        }

        /// Waits `duration`, or less when stopped or when a device is heard.
        func pause(_ duration: Duration) {
            let deadline = Date(timeIntervalSinceNow: duration.inSeconds)
            condition.withLock {
                while isRunning, heardAddresses.isEmpty, condition.wait(until: deadline) {}
            }
        }

        /// Waits until every thread has ended, or `limit` has passed; true when they all ended.
        func stopped(within limit: Duration) async -> Bool {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                // Whichever comes first, the last thread's end or the limit, resumes it once.
                let pending = Mutex<CheckedContinuation<Bool, Never>?>(continuation)
                let resume: @Sendable (Bool) -> Void = { ended in
                    pending.withLock { $0.take() }?.resume(returning: ended)
                }
                let ended = condition.withLock {
                    if threadCount == 0 { return true }
                    whenStopped.append { resume(true) }
                    return false
                }
                if ended { return resume(true) }
                Task {
                    try? await Task.sleep(for: limit)
                    resume(false)
                }
            }
        }
    }

    /// Notes health devices heard advertising (each at most once a minute in the store) and
    /// tells the worker which ones were heard.
    private func scan(_ shared: Shared, generation: Int) {
        let scanner: LEScanner
        do {
            scanner = try LEScanner()
        } catch {
            logger.warning(
                "BLE scanning unavailable; assigned devices are still tried on schedule",
                metadata: ["error": "\(error)"])
            return
        }
        var written: [String: Date] = [:]
        while shared.isRunning, shared.generation.load(ordering: .sequentiallyConsistent) == generation {
            let reports: [AdvertisingReport]
            do {
                reports = try scanner.next(
                    wait: .seconds(1), restart: !shared.connecting.load(ordering: .sequentiallyConsistent))
            } catch {
                logger.warning("BLE scanning stopped", metadata: ["error": "\(error)"])
                return
            }
            for report in reports where report.isHealthDevice {
                shared.heard(report.address)
                guard written[report.address].map({ Date().timeIntervalSince($0) > 60 }) ?? true else { continue }
                written[report.address] = Date()
                let device = DiscoveredDevice(
                    address: report.address, addressType: report.randomAddress ? "random" : "public", name: report.name,
                    services: report.services.map { String(format: "%04x", $0) }.joined(separator: ","),
                    rssi: report.rssi, seenAt: Date())
                do { try sync.pipeline.database.recordDiscovered(device) } catch {
                    logger.warning(
                        "discovered device not recorded",
                        metadata: ["ble.address": "\(report.address)", "error": "\(error)"])
                }
            }
        }
    }

    /// Runs each assigned device's session when it is due, until the adapter goes away.
    private func work(_ shared: Shared) {
        var schedule: [String: (due: ContinuousClock.Instant, backoff: Double)] = [:]
        var devices: [Device] = []
        var refreshed = ContinuousClock.now - .seconds(3600)
        var checked = ContinuousClock.now
        while shared.isRunning {
            if ContinuousClock.now - checked > .seconds(2) {
                checked = .now
                if BluetoothAdapter.unavailableReason() != nil { return }
            }
            if ContinuousClock.now - refreshed > .seconds(30) {
                do {
                    devices = try sync.pipeline.database.assignedBLEDevices()
                    status.devices(devices.count)
                } catch {
                    logger.warning("cannot list BLE devices", metadata: ["error": "\(error)"])
                }
                refreshed = .now
            }
            var justHeard = shared.takeHeard()
            // A device an operator asked to pair is tried at once.
            justHeard.formUnion((try? sync.pipeline.database.pendingPairings()) ?? [])
            let now = ContinuousClock.now
            guard
                let device = devices.first(where: { device in
                    guard let address = device.bleAddress else { return false }
                    return justHeard.contains(address) || (schedule[device.id]?.due ?? now) <= now
                }), let address = device.bleAddress
            else {
                shared.pause(.seconds(1))
                continue
            }
            shared.connecting.store(true, ordering: .sequentiallyConsistent)
            let failed = session(device, address: address)
            shared.connecting.store(false, ordering: .sequentiallyConsistent)
            status.session(failed: failed)
            let backoff = failed ? min(config.maxBackoff, max(5, (schedule[device.id]?.backoff ?? 2.5) * 2)) : 0
            schedule[device.id] = (.now + .seconds(failed ? backoff : config.interval), backoff)
        }
    }

    /// One connection and session; true when it failed.
    private func session(_ device: Device, address: String) -> Bool {
        do {
            let database = sync.pipeline.database
            let known = try database.bondAddressType(address) ?? database.discoveredAddressType(address)
            if known == nil {
                logger.info(
                    "address type unknown (never heard advertising, no bond); trying public",
                    metadata: ["device.id": "\(device.id)"])
            }
            // Pair at once when an operator asked; encrypt with the bond when there is one.
            let secure = try database.pendingPairings().contains(address) || database.hasBond(address: address)
            let bearer = try L2CAP.connect(
                address: address, random: known == "random", timeout: .seconds(config.connectTimeout), secure: secure)
            return try sync.run(device: device, address: address, bearer: bearer).report.failure != nil
        } catch {
            logger.info(
                "BLE connection failed; will retry", metadata: ["device.id": "\(device.id)", "error": "\(error)"])
            try? sync.pipeline.database.recordBLESession(device: device.id, at: Date(), records: 0, error: "\(error)")
            return true
        }
    }
}
