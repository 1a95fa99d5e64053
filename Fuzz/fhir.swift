// libFuzzer target: FHIR R4 Observations and Bundles, then the normalizer on every reading
// decoded. Built with the GatewayCore sources by scripts/fuzz.
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFHIR(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let payload = Data(UnsafeBufferPointer(start: data, count: size))
    if case .success(let decoded) = FHIRObservation.parse(payload) {
        for case .success(let input) in decoded.items {
            _ = Normalizer.normalize(input, receivedAt: Date(timeIntervalSince1970: 1_772_631_730))
        }
    }
    return 0
}
