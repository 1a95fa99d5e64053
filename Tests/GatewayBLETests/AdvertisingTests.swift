import GatewayCore
import GatewayTestSupport
import Testing
import ccm_gatewayd

@testable import GatewayBLE

@Suite("LE advertising reports", .ownThreads)
struct AdvertisingTests {
    /// An HCI LE Meta event with one advertising report: flags, the 16-bit service list
    /// (1810, 180A) and the complete local name.
    static let cuffReport: [UInt8] =
        [0x04, 0x3E, 0x20, 0x02, 0x01, 0x00, 0x01, 0x56, 0x34, 0x12, 0x38, 0xC1, 0xA4, 0x14]
        + [0x02, 0x01, 0x06, 0x05, 0x03, 0x10, 0x18, 0x0A, 0x18, 0x0A, 0x09] + Array("BP Cuff 7".utf8) + [0xC4]

    @Test("A report yields the address (most significant byte first), its type, services, name and RSSI")
    func parse() {
        let reports = AdvertisingReport.parse(hciEvent: Self.cuffReport)
        #expect(
            reports == [
                AdvertisingReport(
                    address: "A4:C1:38:12:34:56", randomAddress: true, name: "BP Cuff 7", services: [0x1810, 0x180A],
                    rssi: -60)
            ])
        #expect(reports.first?.isHealthDevice == true)
    }

    @Test("Service data names a service too; a device without a health service is not one")
    func serviceData() {
        var report = AdvertisingReport(address: "X", randomAddress: false, name: nil, services: [], rssi: 0)
        report.read(advertisingData: [0x05, 0x16, 0x08, 0x18, 0x01, 0x02])
        #expect(report.services == [0x1808] && report.isHealthDevice)
        report = AdvertisingReport(address: "X", randomAddress: false, name: nil, services: [], rssi: 0)
        report.read(advertisingData: [0x03, 0x03, 0x0F, 0x18, 0x04, 0x08] + Array("Kbd".utf8))
        #expect(report.services == [0x180F] && !report.isHealthDevice)
        #expect(report.name == "Kbd", "a shortened name is used when there is no complete one")
    }

    @Test(
        "Scales, oximeters and thermometers are health devices, of their kind",
        arguments: [
            (UInt16(0x181D), DeviceKind.scale), (0x181B, .scale), (0x1822, .pulseOximeter), (0x1809, .thermometer),
            (0x1810, .bloodPressureMonitor),
            (0x1808, .glucometer),
        ])
    func kinds(service: UInt16, kind: DeviceKind) {
        var report = AdvertisingReport(address: "X", randomAddress: false, name: nil, services: [], rssi: 0)
        report.read(advertisingData: [0x05, 0x03, 0x0F, 0x18, UInt8(service & 0xFF), UInt8(service >> 8)])
        #expect(report.isHealthDevice)
        #expect(DeviceKind(advertising: report.services) == kind)
    }

    @Test(
        "Other events, cut reports and broken AD structures yield nothing or stop cleanly",
        arguments: [
            [UInt8](), [0x04, 0x0E, 0x04, 0x01], [0x04, 0x3E, 0x0C, 0x01, 0x00], Array(cuffReport.prefix(20)),
            [0x04, 0x3E, 0x0C, 0x02, 0x05, 0x00, 0x00, 1, 2, 3, 4, 5, 6, 0xFF],
        ])
    func broken(bytes: [UInt8]) {
        #expect(AdvertisingReport.parse(hciEvent: bytes).isEmpty)
        var report = AdvertisingReport(address: "X", randomAddress: false, name: nil, services: [], rssi: 0)
        report.read(advertisingData: [0x09, 0x03, 0x10])  // length beyond the data
        #expect(report.services.isEmpty)
    }
}

@Suite("ATT PDUs", .ownThreads)
struct ATTPDUTests {
    @Test("UUIDs print as the gateway names them: 2a35, or the 128-bit text form")
    func uuids() {
        #expect(ATT.UUID.short(0x2A35).description == "2a35")
        let long = ATT.UUID.long([
            0xFB, 0x34, 0x9B, 0x5F, 0x80, 0x00, 0x00, 0x80, 0x00, 0x10, 0x00, 0x00, 0x35, 0x2A, 0x00, 0x00,
        ])
        #expect(long.description == "00002a35-0000-1000-8000-00805f9b34fb")
    }

    @Test("Attribute lists split into entries; lengths that do not divide are malformed")
    func entries() throws {
        let entries = try ATT.entries(
            [0x06, 0x01, 0x00, 0x05, 0x00, 0x10, 0x18, 0x06, 0x00, 0x0A, 0x00, 0x08, 0x18], minimum: 6)
        #expect(entries.map(\.handle) == [1, 6])
        #expect(throws: ATT.Failure.self) { try ATT.entries([0x06, 0x01, 0x00, 0x05], minimum: 6) }
        #expect(throws: ATT.Failure.self) { try ATT.entries([0x02, 0x01, 0x00], minimum: 6) }
        let information = try ATT.information([0x01, 0x03, 0x00, 0x02, 0x29])
        #expect(information.map(\.handle) == [3] && information.map(\.type) == [.clientCharacteristicConfiguration])
        #expect(throws: ATT.Failure.self) { try ATT.information([0x03, 0x03, 0x00, 0x02, 0x29]) }
    }

    @Test("RACP responses: record counts and response codes; anything else is unreadable")
    func racp() {
        #expect(RACP.Response([0x05, 0x00, 0xF4, 0x01]) == .numberOfRecords(500))
        #expect(RACP.Response([0x06, 0x00, 0x01, 0x06]) == .responseCode(request: 1, code: 6))
        #expect(RACP.Response([0x06, 0x00, 0x01]) == nil)
        #expect(RACP.Response([0x07, 0x00, 0x01, 0x01]) == nil)
        #expect(RACP.reportRecords(from: 501) == [0x01, 0x03, 0x01, 0xF5, 0x01])
        #expect(RACP.numberOfRecords(from: nil) == [0x04, 0x01])
    }
}
