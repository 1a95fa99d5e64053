/// Where a source hands what it received: the inbox, which commits it durably before returning
/// its inbox id (a source acknowledges nothing before that). GatewayPipeline's `InboxWriter`
/// implements it; a source sees only this.
public protocol InboxReceiver: Sendable {
    /// Payloads above this many bytes are rejected; a source keeps only this much of a larger one.
    var maxPayloadBytes: Int { get }
    /// Commits `input` to the inbox and returns its id once the commit is on disk.
    func receive(_ input: RawInput) throws -> Int64
    /// Commits `inputs`, in their order, and returns their ids once they are on disk; a source
    /// that reads several inputs before it acknowledges any (an MQTT lane) hands them over
    /// together, so that they can share one commit.
    func receive(_ inputs: [RawInput]) throws -> [Int64]
}

extension InboxReceiver {
    /// One commit per input, in order.
    public func receive(_ inputs: [RawInput]) throws -> [Int64] {
        try inputs.map { try receive($0) }
    }
}
