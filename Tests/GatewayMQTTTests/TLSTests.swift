import Foundation
import GatewayCore
import GatewayPipeline
import GatewayStore
import GatewayTestSupport
import Testing

@testable import GatewayMQTT

/// TLS to the broker with a CA and client certificates made by openssl at test time.
@Suite("MQTT over TLS", .ownThreads)
struct TLSTests {
    /// A CA, a server certificate for 127.0.0.1, a client certificate from the CA, and a client
    /// certificate from another CA that the broker must refuse.
    static func makeCertificates(in directory: String) throws {
        let script = """
            set -e
            cd '\(directory)'
            key() { openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$1.key" -subj "/CN=$2" "${@:3}" 2>/dev/null; }
            key ca test-ca -x509 -days 2 -out ca.pem
            key rogue-ca rogue-ca -x509 -days 2 -out rogue-ca.pem
            printf 'subjectAltName=IP:127.0.0.1\\n' > server.ext
            key server 127.0.0.1 -out server.csr
            openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile server.ext -out server.pem 2>/dev/null
            key client ccm-gateway -out client.csr
            openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -out client.pem 2>/dev/null
            key rogue rogue-gateway -out rogue.csr
            openssl x509 -req -in rogue.csr -CA rogue-ca.pem -CAkey rogue-ca.key -CAcreateserial -days 2 -out rogue.pem 2>/dev/null
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", script]
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "openssl could not make the test certificates")
    }

    @Test("A client certificate from the broker's CA connects and takes readings; one from another CA is refused")
    func clientCertificates() async throws {
        let certificates = FileManager.default.temporaryDirectory.appendingPathComponent(
            "tls-\(UUID().uuidString.prefix(8))"
        ).path
        try FileManager.default.createDirectory(atPath: certificates, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: certificates) }
        try Self.makeCertificates(in: certificates)
        let tlsPort = try Broker.freePort()
        let broker = try Broker(
            extraConfig: """
                listener \(tlsPort) 127.0.0.1
                cafile \(certificates)/ca.pem
                certfile \(certificates)/server.pem
                keyfile \(certificates)/server.key
                require_certificate true
                """)
        let gateway = try Harness(broker: broker) { options in
            options.port = tlsPort
            options.caFile = certificates + "/ca.pem"
            options.certFile = certificates + "/client.pem"
            options.keyFile = certificates + "/client.key"
        }
        try gateway.start(broker)
        try broker.publish("ccm/v1/hub/h1/reading", MQTTIngestTests.bp(126, minute: 7))
        #expect(try await gateway.next(1).map(\.status) == [.accepted])

        let rogue = try Harness(broker: broker, clientID: "gw-rogue") { options in
            options.port = tlsPort
            options.caFile = certificates + "/ca.pem"
            options.certFile = certificates + "/rogue.pem"
            options.keyFile = certificates + "/rogue.key"
        }
        try rogue.client.start()
        #expect(waitUntil(broker.log) { $0.contains("OpenSSL Error") })
        #expect(!rogue.client.isConnected)
        #expect(!((try? String(contentsOfFile: broker.log, encoding: .utf8)) ?? "").contains("as gw-rogue"))
        rogue.client.stop()
    }
}
