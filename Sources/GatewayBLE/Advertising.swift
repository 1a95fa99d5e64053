/// One LE advertising report, as the kernel's management API reports it (Device Found, see
/// `Mgmt.Event`) or as a controller delivers it in an HCI LE Meta event (subevent 0x02), with
/// the advertising data's service UUIDs and name pulled out. Pure.
public struct AdvertisingReport: Sendable, Hashable {
    /// `A4:C1:38:12:34:56`
    public var address: String
    /// Whether the address is a random (not public) device address.
    public var randomAddress: Bool
    public var name: String?
    public var services: [UInt16]
    public var rssi: Int

    /// Whether it announces the Blood Pressure or the Glucose service.
    public var isHealthDevice: Bool { !HealthUUID.healthServices.isDisjoint(with: services) }

    /// The reports of one HCI event packet (`04 3E len 02 num …`, packet indicator first), or
    /// none when it is another event or is cut short.
    public static func parse(hciEvent bytes: [UInt8]) -> [AdvertisingReport] {
        guard bytes.count >= 5, bytes[0] == 0x04, bytes[1] == 0x3E, bytes[3] == 0x02 else { return [] }
        var offset = 5
        var reports: [AdvertisingReport] = []
        for _ in 0..<Int(bytes[4]) {
            // event type (1), address type (1), address (6), data length (1), data, RSSI (1)
            guard offset + 9 <= bytes.count else { break }
            let addressType = bytes[offset + 1]
            let address = bytes[(offset + 2)..<(offset + 8)].reversed().map(hex).joined(separator: ":")
            let length = Int(bytes[offset + 8])
            guard offset + 9 + length + 1 <= bytes.count else { break }
            let data = Array(bytes[(offset + 9)..<(offset + 9 + length)])
            let rssi = Int(Int8(bitPattern: bytes[offset + 9 + length]))
            var report = AdvertisingReport(
                address: address, randomAddress: addressType == 0x01, name: nil, services: [], rssi: rssi)
            report.read(advertisingData: data)
            reports.append(report)
            offset += 9 + length + 1
        }
        return reports
    }

    /// Reads the AD structures (length, type, data): 16-bit service UUID lists (0x02, 0x03),
    /// 16-bit service data (0x16), and the short or complete local name (0x08, 0x09).
    mutating func read(advertisingData data: [UInt8]) {
        var index = 0
        while index < data.count {
            let length = Int(data[index])
            guard length > 0, index + 1 + length <= data.count else { break }
            let type = data[index + 1]
            let field = data[(index + 2)..<(index + 1 + length)]
            switch type {
            case 0x02, 0x03:
                var at = field.startIndex
                while at + 1 < field.endIndex {
                    services.append(UInt16(field[at]) | UInt16(field[at + 1]) << 8)
                    at += 2
                }
            case 0x16 where field.count >= 2:
                services.append(UInt16(field[field.startIndex]) | UInt16(field[field.startIndex + 1]) << 8)
            case 0x08, 0x09:
                let text = String(decoding: field, as: UTF8.self)
                if type == 0x09 || name == nil { name = text }
            default:
                break
            }
            index += 1 + length
        }
    }
}
