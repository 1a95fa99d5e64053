import Foundation
import GatewayCore
import GatewayTestSupport
import Testing

@testable import GatewayStore

/// The bond store: LTKs and IRKs kept for the kernel, pairing requests, the adapter's state.
@Suite("BLE bonds", .ownThreads)
struct BLEBondsTests {
    static let meter = "C0:26:DA:01:02:03"

    @Test("Keys are stored whole, replaced per slot, listed without key material, and survive reopening the file")
    func storeAndReload() throws {
        let world = try World()
        let ltk0 = BLEBondKey(
            address: Self.meter, addressType: "random", kind: .ltk, slot: 0, key: [UInt8](repeating: 1, count: 36),
            authenticated: false)
        let ltk1 = BLEBondKey(
            address: Self.meter, addressType: "random", kind: .ltk, slot: 1, key: [UInt8](repeating: 2, count: 36),
            authenticated: false)
        let irk = BLEBondKey(
            address: Self.meter, addressType: "random", kind: .irk, slot: 0, key: [UInt8](repeating: 3, count: 23),
            authenticated: false)
        for key in [ltk0, ltk1, irk] { try world.database.storeBondKey(key) }
        var replaced = ltk1
        replaced.key = [UInt8](repeating: 9, count: 36)
        replaced.authenticated = true
        try world.database.storeBondKey(replaced)

        let reopened = try GatewayDatabase(path: world.directory.file("gateway.sqlite"), mode: .existing)
        let keys = try reopened.bondKeys()
        #expect(keys.count == 3)
        #expect(keys.first { $0.kind == .ltk && $0.slot == 1 }?.key == replaced.key)
        #expect(keys.first { $0.kind == .irk }?.key == irk.key)
        #expect(try reopened.hasBond(address: Self.meter) && !reopened.hasBond(address: "A4:C1:38:12:34:56"))
        #expect(try reopened.bondAddressType(Self.meter) == "random")

        let summary = try #require(try reopened.bondSummaries().first)
        #expect(summary.address == Self.meter && summary.deviceID == Self.meter)
        #expect(summary.longTermKeys == 2 && summary.identityKeys == 1 && summary.authenticated)
        let encoded = String(decoding: try JSONEncoder().encode(summary), as: UTF8.self)
        #expect(!encoded.contains("key\""), "a summary carries no key")
    }

    @Test("Unpair deletes the keys and any pairing request, and is audited")
    func unpair() throws {
        let world = try World()
        try world.database.storeBondKey(
            BLEBondKey(
                address: Self.meter, addressType: "random", kind: .ltk, slot: 0, key: [UInt8](repeating: 1, count: 36),
                authenticated: false
            ))
        try world.database.requestPairing(
            address: Self.meter, passkey: nil, until: Date().addingTimeInterval(600), by: "nurse.kim")
        #expect(try world.database.deleteBond(address: Self.meter, by: "nurse.kim") == 1)
        #expect(try world.database.bondKeys().isEmpty && world.database.pendingPairings().isEmpty)
        #expect(try world.database.auditLog().map(\.action).suffix(2) == ["ble.pair_requested", "ble.unpair"])
        #expect(try world.database.deleteBond(address: Self.meter, by: "nurse.kim") == 0)
    }

    @Test(
        "A pairing request holds its passkey until it expires or is cleared; the audit says whether one was given, never which"
    )
    func pairingRequests() throws {
        let world = try World()
        let now = Date()
        try world.database.requestPairing(
            address: Self.meter, passkey: 123456, until: now.addingTimeInterval(600), by: "nurse.kim")
        #expect(try world.database.pendingPairings(now: now) == [Self.meter])
        #expect(try world.database.pairingPasskey(address: Self.meter, now: now) == 123456)
        #expect(try world.database.pairingPasskey(address: Self.meter, now: now.addingTimeInterval(601)) == nil)
        #expect(try world.database.pendingPairings(now: now.addingTimeInterval(601)).isEmpty)
        let audit = try #require(try world.database.auditLog().last)
        #expect(audit.detail?.contains("123456") == false)
        try world.database.clearPairing(address: Self.meter)
        #expect(try world.database.pairingPasskey(address: Self.meter, now: now) == nil)
    }

    @Test("The adapter's state is one row, replaced")
    func adapterState() throws {
        let world = try World()
        #expect(try world.database.adapterState() == nil)
        let when = Date(timeIntervalSince1970: 1_800_000_000)
        try world.database.recordAdapter(
            BLEAdapterState(
                adapter: "hci0", address: "C0:FF:EE:00:00:01", powered: false, settings: "le", owner: "ccm-gatewayd",
                detail: nil,
                updatedAt: when))
        try world.database.recordAdapter(
            BLEAdapterState(
                adapter: "hci0", address: "C0:FF:EE:00:00:01", powered: true, settings: "powered, bondable, le",
                owner: "ccm-gatewayd",
                detail: nil, updatedAt: when))
        let state = try #require(try world.database.adapterState())
        #expect(state.powered && state.settings == "powered, bondable, le" && state.adapter == "hci0")
    }
}
