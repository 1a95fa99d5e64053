import Foundation
import GatewayCore
import GatewayPipeline
import GatewayStore
import GatewayTestSupport
import Testing

@testable import GatewayMQTT

/// The shipped broker ACL (config/mosquitto.acl) on a real mosquitto with a password file:
/// a hub is the account the broker authenticated, and the gateway knows only registered hubs.
@Suite("Hub identity through the shipped broker ACL", .serialized, .ownThreads)
struct HubIdentityTests {
    static let accounts = ["h1": "h1-secret"]

    static func gateway(_ broker: Broker, templates: [CarePlanTemplate] = []) throws -> Harness {
        try Harness(broker: broker, templates: templates)
    }

    @Test(
        "A hub publishing on another hub's topic never reaches the gateway; an unregistered hub's reading, or one for a device bound to no hub from a hub not registered for its patient, is quarantined, not stored"
    )
    func ownTopicOnly() async throws {
        let broker = try Broker(accounts: Self.accounts)
        let gateway = try Self.gateway(broker)
        try gateway.pipeline.addHub("h2", by: "test")
        try gateway.pipeline.addDevice(
            Device(id: "C0:FF:EE:00:00:02", kind: .bloodPressureMonitor, patientID: "P1", hubID: "h2"), by: "test")
        try gateway.pipeline.addDevice(
            Device(id: "C0:FF:EE:00:00:03", kind: .bloodPressureMonitor, patientID: "P1"), by: "test")
        try gateway.start(broker)

        // h1 poses as h2, for h2's device, as a native reading and as a GATT value.
        try broker.publish(
            "ccm/v1/hub/h2/reading", MQTTIngestTests.bp(199, minute: 1, device: "C0:FF:EE:00:00:02"),
            extra: broker.login("h1"))
        try broker.publish(
            "ccm/v1/hub/h2/gatt/C0FFEE000002/2a35", "02 C7 00 7D 00 FF 07 EA 07 03 04 09 00 00",
            extra: broker.login("h1"))
        // Then on its own topic: once this arrives, whatever h1 sent before it has too.
        try broker.publish("ccm/v1/hub/h1/reading", MQTTIngestTests.bp(142, minute: 2), extra: broker.login("h1"))
        let first = try await gateway.next(1)
        #expect(first.map(\.status) == [.accepted])
        #expect(
            try gateway.database.inbox().map(\.source) == ["mqtt:ccm/v1/hub/h1/reading"],
            "nothing h1 published on h2's topics was delivered")

        // h3 has broker credentials but is not registered at the gateway.
        try broker.publish(
            "ccm/v1/hub/h3/reading", MQTTIngestTests.bp(150, minute: 3, device: "C0:FF:EE:00:00:03"),
            extra: broker.login("h3"))
        let unknown = try await gateway.next(1)
        #expect(unknown.map(\.status) == [.quarantined])
        #expect(unknown.first?.code == "unknown_hub")
        #expect(
            unknown.first?.reason
                == "unknown hub h3; nothing from it is stored as a reading or time until it is registered: ccmctl hubs add h3, which replays its quarantined inputs"
        )
        #expect(try gateway.database.readings().count == 1)

        // Registering it replays the quarantined input; the device is bound to no hub, so the
        // reading counts only once h3 is registered for the device's patient.
        let registered = try gateway.pipeline.addHub("h3", by: "test")
        #expect(registered.map(\.code) == ["hub_not_for_patient"])
        #expect(
            registered.first?.reason
                == "device C0:FF:EE:00:00:03 is bound to no hub, and hub h3 is not registered for its patient P1; if the device is at that hub, run ccmctl devices assign C0:FF:EE:00:00:03 --patient P1 --hub h3 or ccmctl hubs add h3 --patient P1, which replay it"
        )
        #expect(try gateway.database.readings().count == 1)
        let replayed = try gateway.pipeline.addHub("h3", patients: ["P1"], by: "test")
        #expect(replayed.map(\.status) == [.accepted])
        #expect(try gateway.database.readings().count == 2)
    }

    @Test("A hub cannot read alerts; an account the practice names can")
    func alertsStayPrivate() throws {
        let broker = try Broker(accounts: Self.accounts)
        let hubOutput = broker.directory + "/h1.out"
        let readerOutput = broker.directory + "/reader.out"
        let base = ["-h", "127.0.0.1", "-p", "\(broker.port)", "-q", "1", "-t", "ccm/v1/alerts/#", "-v"]
        let hub = try Spawned(
            "/usr/bin/mosquitto_sub", base + broker.login("h1") + ["-i", "sub-h1", "-W", "10"], stdout: hubOutput)
        defer { _ = hub.terminate() }
        let reader = try Spawned(
            "/usr/bin/mosquitto_sub",
            base + broker.login(Broker.alertReader) + ["-i", "sub-reader", "-C", "1", "-W", "10"],
            stdout: readerOutput)
        try #require(
            waitUntil(broker.log) {
                $0.contains("sub-h1 1 ccm/v1/alerts/#") && $0.contains("sub-reader 1 ccm/v1/alerts/#")
            })
        // A hub cannot publish an alert either.
        try broker.publish("ccm/v1/alerts/P1", "forged", extra: broker.login("h1"))
        try broker.publish("ccm/v1/alerts/P1", "urgent P1 bp-high 199/125", extra: broker.login(Broker.gateway))
        #expect(reader.wait() == 0, "the named reader got the alert")
        #expect(
            try String(contentsOfFile: readerOutput, encoding: .utf8) == "ccm/v1/alerts/P1 urgent P1 bp-high 199/125\n")
        // The hub's subscriber was subscribed before the alert and is served in the same pass.
        _ = hub.terminate()
        #expect((try? String(contentsOfFile: hubOutput, encoding: .utf8)) ?? "" == "", "h1 received no alert")
    }

    @Test(
        "Time over MQTT only from a hub registered for the patient and from known staff; an entry id counts once per patient whatever the hub"
    )
    func timeFromAllowedHubs() async throws {
        let broker = try Broker(accounts: Self.accounts)
        let gateway = try Self.gateway(broker)
        try gateway.pipeline.addHub("h2", patients: ["P1"], by: "test")
        try gateway.database.addStaff("nurse.kim", role: .clinicalStaff, by: "test")
        try gateway.start(broker)
        let entry =
            #"{"v":1,"patient":"P1","start":"2026-03-04T10:05:00-06:00","minutes":12,"staff":"nurse.kim","role":"clinical_staff","program":"ccm","activity":"call","id":"app-1"}"#
        try broker.publish("ccm/v1/hub/h1/time", entry, extra: broker.login("h1"))
        try broker.publish(
            "ccm/v1/hub/h2/time", entry.replacingOccurrences(of: "nurse.kim", with: "mallory"),
            extra: broker.login("h2"))
        try broker.publish(
            "ccm/v1/hub/h2/time", entry.replacingOccurrences(of: "clinical_staff", with: "physician"),
            extra: broker.login("h2"))
        try broker.publish("ccm/v1/hub/h2/time", entry, extra: broker.login("h2"))
        let outcomes = try await gateway.next(4)
        #expect(outcomes.map(\.status) == [.rejected, .rejected, .rejected, .accepted])
        #expect(
            outcomes[0].reason
                == "patient: hub h1 is not registered for patient P1; time is taken only from a hub registered for the patient: ccmctl hubs add h1 --patient P1"
        )
        #expect(
            outcomes[1].reason
                == "staff: unknown staff mallory; only registered staff's time bills: register them with ccmctl staff add mallory --role clinical_staff"
        )
        #expect(
            outcomes[2].reason
                == "role: staff nurse.kim is registered as clinical_staff, not physician; record the time with role clinical_staff"
        )
        // The same entry id through another hub (now registered for P1) is the same entry.
        try gateway.pipeline.addHub("h1", patients: ["P1"], by: "test")
        try broker.publish("ccm/v1/hub/h1/time", entry, extra: broker.login("h1"))
        #expect(try await gateway.next(1).map(\.status) == [.duplicate])
        #expect(try gateway.database.timeEntries().map(\.minutes) == [12])
    }

    @Test(
        "With client certificates (use_identity_as_username), a hub whose certificate says CN=h1 publishes only as h1")
    func certificateIdentity() async throws {
        let certificates = FileManager.default.temporaryDirectory.appendingPathComponent(
            "tls-\(UUID().uuidString.prefix(8))"
        ).path
        try FileManager.default.createDirectory(atPath: certificates, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: certificates) }
        try TLSTests.makeCertificates(in: certificates)
        let hubCertificate = try Broker.run(
            "/bin/bash",
            [
                "-c",
                """
                set -e; cd '\(certificates)'
                openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout h1.key -subj /CN=h1 -out h1.csr 2>/dev/null
                openssl x509 -req -in h1.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -out h1.pem 2>/dev/null
                """,
            ])
        try #require(hubCertificate.status == 0, "openssl: \(hubCertificate.err)")
        let tlsPort = try Broker.freePort()
        let broker = try Broker(
            extraConfig: """
                listener \(tlsPort) 127.0.0.1
                cafile \(certificates)/ca.pem
                certfile \(certificates)/server.pem
                keyfile \(certificates)/server.key
                require_certificate true
                use_identity_as_username true
                """, accounts: Self.accounts)
        // The gateway's certificate says CN=ccm-gateway: the ACL's gateway account.
        let gateway = try Harness(broker: broker) { options in
            options.port = tlsPort
            options.caFile = certificates + "/ca.pem"
            options.certFile = certificates + "/client.pem"
            options.keyFile = certificates + "/client.key"
        }
        try gateway.pipeline.addHub("h2", by: "test")
        try gateway.pipeline.addDevice(
            Device(id: "C0:FF:EE:00:00:02", kind: .bloodPressureMonitor, patientID: "P1", hubID: "h2"), by: "test")
        try gateway.start(broker)
        let asH1 = [
            "--cafile", certificates + "/ca.pem", "--cert", certificates + "/h1.pem", "--key", certificates + "/h1.key",
            "-p", "\(tlsPort)",
        ]
        // mosquitto_pub's -p given last wins over the plain port Broker.publish passes.
        try broker.publish(
            "ccm/v1/hub/h2/reading", MQTTIngestTests.bp(199, minute: 1, device: "C0:FF:EE:00:00:02"), extra: asH1)
        try broker.publish("ccm/v1/hub/h1/reading", MQTTIngestTests.bp(142, minute: 2), extra: asH1)
        #expect(try await gateway.next(1).map(\.status) == [.accepted])
        #expect(
            try gateway.database.inbox().map(\.source) == ["mqtt:ccm/v1/hub/h1/reading"],
            "the certificate's CN is the hub, whatever the topic says")
    }

    @Test("ccmctl hubs credentials rotates a hub's password: after the broker reloads, the old one no longer connects")
    func rotatedPasswordLocksOut() throws {
        let broker = try Broker(accounts: Self.accounts)
        let path = broker.directory + "/ctl.sqlite"
        let database = try GatewayDatabase(path: path, mode: .create)
        try Pipeline(database: database).addHub("h1", by: "test")
        let ctl = CLIBinary.ccmctl
        let made = try Broker.run(
            ctl, ["hubs", "credentials", "h1", "--password-file", broker.passwordFile, "--db", path, "--by", "ops"])
        try #require(made.status == 0, "ccmctl hubs credentials: \(made.err)")
        let password = try #require(made.out.split(separator: "\n").first { $0.hasPrefix("password: ") }).dropFirst(
            "password: ".count)
        #expect(password.count == 32 && password != "h1-secret")
        let file = try String(contentsOfFile: broker.passwordFile, encoding: .utf8)
        #expect(
            file.split(separator: "\n").filter { $0.hasPrefix("h1:$7$") }.count == 1,
            "h1's line replaced, hashed as mosquitto_passwd does")
        #expect(file.contains("ccm-gateway:$7$"), "other accounts kept")
        let hash = try #require(try database.hubPasswordHash("h1"))
        #expect(
            hash.hasPrefix("$7$") && !hash.contains(password) && file.contains("h1:" + hash),
            "the gateway keeps the hash only")
        #expect(try database.auditLog(entity: "hub", id: "h1").last?.action == "hub.credentials.create")

        try broker.reload()
        let publish = [
            "-h", "127.0.0.1", "-p", "\(broker.port)", "-q", "1", "-t", "ccm/v1/hub/h1/reading", "-m", "{}", "-u", "h1",
            "-P",
        ]
        let old = try Broker.run("/usr/bin/mosquitto_pub", publish + ["h1-secret"])
        #expect(old.status != 0 && old.err.contains("not authorised"), "the old password is refused: \(old.err)")
        #expect(
            try Broker.run("/usr/bin/mosquitto_pub", publish + [String(password)]).status == 0,
            "the new password connects")
    }
}

/// The built executables, next to the test bundle.
enum CLIBinary {
    static let ccmctl = TestPaths.product("ccmctl")
}
