/// The one way a `Duration` becomes seconds or a poll(2) timeout, sub-second parts included.
extension Duration {
    /// The duration in seconds.
    public var inSeconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }

    /// The duration as a poll(2) timeout: milliseconds rounded up, so a positive wait never
    /// becomes 0 (a poll that returns at once would spin); 0 for a duration that has run out;
    /// clamped to what poll takes.
    public var pollMilliseconds: Int32 {
        guard self > .zero else { return 0 }
        let (seconds, attoseconds) = components
        let milliseconds = seconds.multipliedReportingOverflow(by: 1000)
        guard !milliseconds.overflow else { return .max }
        return Int32(clamping: milliseconds.partialValue + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000)
    }
}
