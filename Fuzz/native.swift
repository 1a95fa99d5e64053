// libFuzzer target: the native reading format v1 and the time entry format v1, then the
// normalizer on every reading decoded; and PlainJSON checked against JSONDecoder wherever it
// answers. Built with the GatewayCore sources by scripts/fuzz.
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNative(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let payload = Data(UnsafeBufferPointer(start: data, count: size))
    // PlainJSON answers only where JSONDecoder gives the same value (to the bit).
    if let plain = PlainJSON.parse(payload) {
        guard let decoded = try? JSONValue.parseWithDecoder(payload), sameJSON(plain, decoded) else {
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

/// Whether two values are the same to the bit (numbers by bit pattern, text by UTF-8 bytes).
func sameJSON(_ a: JSONValue, _ b: JSONValue) -> Bool {
    switch (a, b) {
    case (.null, .null): return true
    case (.bool(let x), .bool(let y)): return x == y
    case (.number(let x), .number(let y)): return x.bitPattern == y.bitPattern
    case (.string(let x), .string(let y)): return Array(x.utf8) == Array(y.utf8)
    case (.array(let x), .array(let y)): return x.count == y.count && zip(x, y).allSatisfy { sameJSON($0, $1) }
    case (.object(let x), .object(let y)):
        guard x.count == y.count else { return false }
        let yKeys = Dictionary(uniqueKeysWithValues: y.map { (Array($0.key.utf8), $0.value) })
        return x.allSatisfy { key, value in yKeys[Array(key.utf8)].map { sameJSON(value, $0) } ?? false }
    default: return false
    }
}
