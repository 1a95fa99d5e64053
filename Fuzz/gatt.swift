// libFuzzer target: GATT health characteristic values. The first byte picks the
// characteristic (0 Blood Pressure 2a35, 1 Glucose 2a18, 2 Glucose Context 2a34, 3 the hex-text
// reader); the rest is the value. Built with the GatewayCore sources by scripts/fuzz.
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGATT(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let selector = bytes.first else { return 0 }
    let value = Array(bytes.dropFirst())
    let clock: HealthCharacteristic.Clock = { t in
        let days = RFC3339.daysFromCivil(year: t.year, month: t.month, day: t.day)
        return Date(timeIntervalSince1970: Double(days * 86_400 + t.hour * 3600 + t.minute * 60 + t.second))
    }
    switch selector % 4 {
    case 0, 1:
        let characteristic = selector % 4 == 0 ? "2a35" : "2a18"
        if case .success(let input) = HealthCharacteristic.decode(
            characteristic: characteristic, device: "A4:C1:38:12:34:56", bytes: value, clock: clock)
        {
            _ = Normalizer.normalize(input, receivedAt: Date(timeIntervalSince1970: 1_772_631_730))
        }
    case 2:
        _ = HealthCharacteristic.glucoseContext(value)
    default:
        _ = HealthCharacteristic.bytes(Data(value))
    }
    return 0
}
