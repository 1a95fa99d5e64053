public import Foundation

/// One input as a source received it, before anything has looked inside.
public struct RawInput: Sendable {
    /// Where it came from: `file:PATH:LINE`, `stdin:LINE`, `mqtt:TOPIC`, `ble:ADDRESS`.
    public var source: String
    public var format: InputFormat
    /// The hub it arrived through, when it came from one; checked against the device's hub.
    public var hubID: String?
    public var payload: Data
    /// The gateway clock when the source got it.
    public var receivedAt: Date
    /// How far the device's clock was ahead of the gateway's (seconds; negative when behind),
    /// when the source measured it: a BLE session reads the device's Current Time before setting
    /// it. Suspect device times in this input are corrected by it.
    public var deviceClockOffset: Double?
    /// The input's whole size when `payload` holds only its first bytes (an overlong line,
    /// see `LineReader`): the pipeline rejects it as too large; `nil`: the payload is whole.
    public var payloadSize: Int?

    public init(
        source: String, format: InputFormat = .nativeV1, hubID: String? = nil, payload: Data, receivedAt: Date = Date(),
        deviceClockOffset: Double? = nil, payloadSize: Int? = nil
    ) {
        self.source = source
        self.format = format
        self.hubID = hubID
        self.payload = payload
        self.receivedAt = receivedAt
        self.deviceClockOffset = deviceClockOffset
        self.payloadSize = payloadSize
    }
}
