import Foundation
import GRDB
public import GatewayCore
import GatewayStore

extension Pipeline {
    /// Receives one value a BLE device sent and decides it. The inbox row and, for a Glucose
    /// Measurement, the device's last sequence number are committed together before anything
    /// judges the value: the next download starts after what is stored, so a disconnect or a
    /// crash between two records loses none and repeats none.
    public func receiveBLE(_ input: RawInput, device: String, glucoseSequence: Int?) throws -> [ItemOutcome] {
        let inboxID = try database.write { db in
            let id = try Self.insertInbox(input, db)
            if case .gatt(let characteristic, _) = input.format, characteristic == "2a18" || characteristic == "2a34" {
                try db.cachedStatement(sql: "UPDATE inbox SET device_epoch = ? WHERE id = ?").execute(arguments: [
                    try GatewayDatabase.glucoseEpoch(device, db), id,
                ])
            }
            if let glucoseSequence {
                try db.cachedStatement(
                    sql: """
                        INSERT INTO ble_sync (device_id, last_glucose_seq) VALUES (?1, ?2)
                        ON CONFLICT (device_id) DO UPDATE SET last_glucose_seq = max(coalesce(last_glucose_seq, -1), ?2)
                        """
                ).execute(arguments: [device, glucoseSequence])
            }
            return id
        }
        return try process(inboxID: inboxID)
    }
}
