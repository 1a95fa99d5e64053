import Foundation
import GRDB
public import GatewayCore
import GatewayStore

extension Pipeline {
    /// Receives one value a BLE device sent and decides it, in one transaction (one fsync). The
    /// inbox row, the decision and, for a Glucose Measurement, the device's last sequence number
    /// commit together: the next download starts after what is stored, so a disconnect or a
    /// crash between two records loses none and repeats none.
    public func receiveBLE(_ input: RawInput, device: String, glucoseSequence: Int?) throws -> [ItemOutcome] {
        let received = try receiveAndDecide([input]) { db, ids in
            if case .gatt(let characteristic, _) = input.format, characteristic == "2a18" || characteristic == "2a34" {
                try db.cachedStatement(sql: "UPDATE inbox SET device_epoch = ? WHERE id = ?").execute(arguments: [
                    try GatewayDatabase.glucoseEpoch(device, db), ids[0],
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
        }
        // Deciding failed for the database's sake: the value is stored; one more try now, and
        // the error (the session stops; the value waits in the inbox) if that fails too.
        if case .success(let outcomes) = received.decision { return outcomes }
        return try process(inboxIDs: received.inboxIDs)
    }
}
