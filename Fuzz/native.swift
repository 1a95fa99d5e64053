// libFuzzer target: the native reading format v1 and the time entry format v1, then the
// normalizer on every reading decoded; and PlainJSON checked against JSONDecoder wherever it
// answers. Built with the GatewayCore sources by scripts/fuzz.
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNative(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let payload = Data(UnsafeBufferPointer(start: data, count: size))
    // PlainJSON answers only where JSONDecoder gives the same value (to the bit).
    if let plain = PlainJSON.parse(payload) {
        guard let decoded = try? JSONValue.parseWithDecoder(payload), plain.isIdentical(to: decoded) else {
            fatalError("PlainJSON and JSONDecoder differ on \(Array(payload))")
        }
    }
    if case .success(let decoded) = NativeReadingV1.parse(payload) {
        for case .success(let input) in decoded.items {
            _ = Normalizer.normalize(input, receivedAt: Date(timeIntervalSince1970: 1_772_631_730))
        }
    }
    _ = TimeEntryV1.parse(payload)
    return 0
}
