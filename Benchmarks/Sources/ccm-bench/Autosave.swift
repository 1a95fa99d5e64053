import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The broker's own power-cut window (config/mosquitto.conf `autosave_interval`): mosquitto keeps
/// its queues in memory and writes all of them to its persistence file every interval and when
/// it stops. What one save costs with a gateway's weekend backlog queued decides how short the
/// interval can be. A clean stop (SIGTERM) is one save: it is timed with `readings` QoS 1 readings
/// queued for the gateway's offline session, against the same stop with nothing queued, on the
/// shipped configuration (scripts/private-broker).
@MainActor func brokerAutosave(repository repo: String) throws {
    say("== Broker persistence: a save with \(readings) readings queued")
    let shipped = try String(contentsOfFile: repo + "/config/mosquitto.conf", encoding: .utf8)
    guard let line = shipped.split(separator: "\n").first(where: { $0.hasPrefix("autosave_interval ") }),
        let interval = Double(line.split(separator: " ")[1])
    else { fatalError("config/mosquitto.conf sets no autosave_interval") }
    let backlog = nativeLines(readings, patients: 1000).split(separator: "\n")
    let password = "bench-\(getpid())"

    func stopWithQueue(_ queued: Int) throws -> (seconds: Double, kib: Int) {
        let directory = "\(work)/autosave-\(queued)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let port = freePort()
        guard try run(repo + "/scripts/private-broker", [directory, "\(port)"]).status == 0,
            try run(which("mosquitto_passwd"), ["-b", "-c", directory + "/passwd", "ccm-gateway", password]).status
                == 0,
            try run(which("mosquitto_passwd"), ["-b", directory + "/passwd", "bench", password]).status == 0
        else { fatalError("cannot write the broker's configuration") }
        let broker = try start(mosquitto, ["-c", directory + "/mosquitto.conf"], log: directory + "/stdout.log")
        waitListening(port)
        // The gateway's persistent session exists, then it is away while the hub publishes.
        let login = [
            "-h", "127.0.0.1", "-p", "\(port)", "-q", "1", "-c", "-i", "ccm-gateway-1", "-u", "ccm-gateway", "-P",
            password,
        ]
        guard try run(mosquittoSub, login + ["-t", "ccm/v1/hub/+/reading", "-E"]).status == 0 else {
            fatalError("mosquitto_sub could not subscribe")
        }
        if queued > 0 {
            let publisher = Publisher(port: port, clientID: "bench", username: "bench", password: password)
            for line in backlog.prefix(queued) { publisher.publish("ccm/v1/hub/bench/reading", line.utf8) }
            publisher.waitAcknowledged(queued)
            publisher.close()
        }
        let started = Date()
        stop(broker)
        let seconds = Date().timeIntervalSince(started)
        let size = (try? FileManager.default.attributesOfItem(atPath: directory + "/mosquitto.db")[.size] as? Int) ?? 0
        return (seconds, size / 1024)
    }

    let empty = try stopWithQueue(0)
    let full = try stopWithQueue(readings)
    let share = full.seconds / interval * 100
    figures.append(
        Figure(
            name: "Broker save (stop) with \(readings) readings queued, shipped autosave_interval \(Int(interval)) s",
            value: "\(ms(full.seconds)), \(mib(full.kib)) file",
            against:
                "nothing queued \(ms(empty.seconds)); \(String(format: "%.1f", share)) % of the broker's time while such a backlog waits",
            verdict: "measured"))
    notes.append(
        "**Broker persistence.** mosquitto (shipped configuration) with \(readings) QoS 1 readings queued for the gateway's offline session is stopped with SIGTERM, which writes its whole persistence file and fsyncs it; the figure is the time to exit against the same stop with nothing queued. While the broker saves it serves no one, so the save's share of each `autosave_interval` is the cost of the interval while such a backlog waits; with the gateway online the queue is empty and a save costs almost nothing."
    )
    say("   save \(full.seconds) s (\(full.kib) KiB), empty \(empty.seconds) s")
}

/// Waits (bounded) until something accepts connections on 127.0.0.1:`port`.
@MainActor func waitListening(_ port: Int) {
    _ = waitFor("the broker", timeout: 10) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        } == 0
    }
}
