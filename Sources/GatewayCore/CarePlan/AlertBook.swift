#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

public enum AlertState: String, Sendable, CaseIterable, Codable {
    case open, acknowledged, snoozed, resolved
}

/// An alert: one per patient and rule while it is not resolved (docs/alerts.md).
public struct StoredAlert: Sendable, Hashable {
    public var id: Int64
    public var patientID: String
    public var ruleID: String
    public var title: String
    public var level: AlertLevel
    public var state: AlertState
    public var openedAt: Date
    public var updatedAt: Date
    /// Readings out of range that this alert has counted (the first one included).
    public var count: Int
    public var firstValue: String
    /// The value of the latest reading out of range, by device time.
    public var lastValue: String
    public var threshold: String
    public var lastReadingID: Int64?
    /// The device time of the latest reading out of range.
    public var lastSeenAt: Date
    /// The device time of the earliest reading back in range after `lastSeenAt`, if any.
    public var inRangeSince: Date?
    /// Seconds in range after which the alert resolves itself.
    public var resolveAfter: Double
    /// Acknowledged or snoozed at this level: silent at it and below.
    public var silencedLevel: AlertLevel?
    public var ackedBy: String?
    public var ackedAt: Date?
    public var ackNote: String?
    public var ackMinutes: Int?
    public var snoozedUntil: Date?
    public var snoozedBy: String?
    public var resolvedAt: Date?
    public var resolvedBy: String?

    public init(
        id: Int64, patientID: String, ruleID: String, title: String, level: AlertLevel, state: AlertState = .open,
        openedAt: Date,
        updatedAt: Date, count: Int = 1, firstValue: String, lastValue: String, threshold: String,
        lastReadingID: Int64? = nil,
        lastSeenAt: Date, inRangeSince: Date? = nil, resolveAfter: Double, silencedLevel: AlertLevel? = nil,
        ackedBy: String? = nil,
        ackedAt: Date? = nil, ackNote: String? = nil, ackMinutes: Int? = nil, snoozedUntil: Date? = nil,
        snoozedBy: String? = nil,
        resolvedAt: Date? = nil, resolvedBy: String? = nil
    ) {
        self.id = id
        self.patientID = patientID
        self.ruleID = ruleID
        self.title = title
        self.level = level
        self.state = state
        self.openedAt = openedAt
        self.updatedAt = updatedAt
        self.count = count
        self.firstValue = firstValue
        self.lastValue = lastValue
        self.threshold = threshold
        self.lastReadingID = lastReadingID
        self.lastSeenAt = lastSeenAt
        self.inRangeSince = inRangeSince
        self.resolveAfter = resolveAfter
        self.silencedLevel = silencedLevel
        self.ackedBy = ackedBy
        self.ackedAt = ackedAt
        self.ackNote = ackNote
        self.ackMinutes = ackMinutes
        self.snoozedUntil = snoozedUntil
        self.snoozedBy = snoozedBy
        self.resolvedAt = resolvedAt
        self.resolvedBy = resolvedBy
    }

    /// The event `kind` of this alert, as it stands.
    public func event(_ kind: AlertEvent.Kind, at: Date, by: String? = nil, note: String? = nil) -> AlertEvent {
        AlertEvent(
            at: at, kind: kind, alertID: id, level: level, patientID: patientID, rule: ruleID, title: title,
            value: lastValue,
            threshold: threshold, by: by, note: note)
    }
}

/// The alert state machine: what a rule's finding, the timer, or an operator does to a patient's
/// alert for that rule, and which of those changes are announced (docs/alerts.md). Pure: the
/// store reads the alert, asks here, and writes what comes back in the same transaction.
///
/// - A finding out of range with no alert open **raises** one.
/// - Out of range again **repeats**: counted quietly (people learn once), unless it is at a
///   higher level (**escalated**, announced, and loud again after an acknowledgement) or a
///   snooze ran out (**repeated**, announced).
/// - Back in range starts an in-range period at the earliest such reading after the last one
///   out of range, by device time, whatever order they arrived in; a reading measured before
///   the last one out of range says nothing about now. The alert **resolves** itself once the
///   period has lasted the rule's `resolve_after`.
/// - Acknowledging or snoozing silences it at its level; a snooze that ends while the patient
///   is still out of range is announced as repeated.
public enum AlertBook {
    /// What one finding does to the patient's alert for its rule.
    public enum Step: Sendable, Equatable {
        /// Nothing to record.
        case none
        /// Back in range: the alert as it now stands (its in-range period begun or kept), whether
        /// that period changed (to write), and whether the alert resolves itself now.
        case inRange(StoredAlert, changed: Bool, resolves: Bool)
        /// A new alert at this level.
        case raise(AlertLevel)
        /// The timer found the data still stale: the alert is kept fresh, nothing is announced.
        case refresh(value: String)
        /// Out of range again: the alert as it now stands, and the event to announce, if any.
        case repeated(StoredAlert, announce: AlertEvent?)
    }

    /// What `finding` does to `existing` (the patient's unresolved alert for its rule). `seenAt`
    /// is the device time of the data behind the finding (now, for stale data); `fromTimer`
    /// findings are never counted as repeats.
    public static func step(
        _ finding: Finding, existing: StoredAlert?, seenAt: Date, now: Date, fromTimer: Bool
    ) -> Step {
        guard let level = finding.level else {
            guard var alert = existing, seenAt >= alert.lastSeenAt else { return .none }
            var changed = false
            if alert.inRangeSince.map({ seenAt < $0 }) ?? true {
                alert.inRangeSince = seenAt
                alert.updatedAt = now
                changed = true
            }
            return .inRange(
                alert, changed: changed, resolves: resolvesItself(alert, now: now, after: finding.resolveAfter))
        }
        guard var alert = existing else { return .raise(level) }
        if fromTimer { return .refresh(value: finding.value) }
        alert.count += 1
        alert.threshold = finding.threshold
        // The latest value and reading are the latest measured: a late reading measured earlier
        // does not replace them. A reading out of range ends an in-range period only if it was
        // measured after that period began.
        if seenAt >= alert.lastSeenAt {
            alert.lastValue = finding.value
            alert.lastReadingID = finding.readingID
        }
        alert.lastSeenAt = max(alert.lastSeenAt, seenAt)
        if let since = alert.inRangeSince, since <= seenAt { alert.inRangeSince = nil }
        var kind: AlertEvent.Kind?
        if level > alert.level {
            alert.level = level
            alert.state = .open
            kind = .escalated
        } else if alert.state == .snoozed, let until = alert.snoozedUntil, until <= now {
            alert.state = .open
            kind = .repeated
        }
        if alert.state == .open { alert.silencedLevel = nil }
        alert.updatedAt = now
        var event = kind.map { alert.event($0, at: now) }
        // The event names the value that caused it, even when it was measured before the latest.
        event?.value = finding.value
        return .repeated(alert, announce: event)
    }

    /// The event of a new alert raised by `finding` (its id given by the store).
    public static func raised(
        _ finding: Finding, level: AlertLevel, id: Int64, patient: String, at now: Date
    ) -> AlertEvent {
        AlertEvent(
            at: now, kind: .raised, alertID: id, level: level, patientID: patient, rule: finding.ruleID,
            title: finding.title,
            value: finding.value, threshold: finding.threshold)
    }

    /// Whether `alert` has been in range long enough (`after` seconds, its rule's
    /// `resolve_after` unless given) to resolve itself at `now`.
    public static func resolvesItself(_ alert: StoredAlert, now: Date, after: Double? = nil) -> Bool {
        guard let since = alert.inRangeSince else { return false }
        return now.timeIntervalSince(since) >= (after ?? alert.resolveAfter)
    }

    /// The note of a resolution the gateway made itself.
    public static func autoResolveNote(_ alert: StoredAlert) -> String {
        "in range since \(alert.inRangeSince.map(RFC3339.format) ?? "?")"
    }

    /// Whether a reading evaluated again (an earlier-measured one arrived after it) raises or
    /// escalates with `finding`, given the level of the rule's open alert: its repeats and its
    /// in-range findings were counted when it was first evaluated.
    public static func raisesOrEscalates(_ finding: Finding, open: AlertLevel?) -> Bool {
        guard let level = finding.level else { return false }
        return open.map { level > $0 } ?? true
    }

    /// A snooze that ran out: the alert reopens, and is announced as repeated when the patient
    /// is still out of range.
    public static func snoozeEnded(_ alert: StoredAlert, now: Date) -> (alert: StoredAlert, announce: AlertEvent?) {
        var alert = alert
        alert.state = .open
        alert.silencedLevel = nil
        alert.updatedAt = now
        return (alert, alert.inRangeSince == nil ? alert.event(.repeated, at: now, note: "snooze ended") : nil)
    }

    /// An operator acknowledged the alert: it stays open for its rule, silent at its level and
    /// below, until it escalates or resolves.
    public static func acknowledged(
        _ alert: StoredAlert, by actor: String, minutes: Int?, note: String?, at now: Date
    ) -> (alert: StoredAlert, announce: AlertEvent) {
        var alert = silenced(alert, as: .acknowledged, at: now)
        alert.ackedBy = actor
        alert.ackedAt = now
        alert.ackNote = note
        alert.ackMinutes = minutes
        alert.snoozedUntil = nil
        alert.snoozedBy = nil
        return (alert, alert.event(.acknowledged, at: now, by: actor, note: note))
    }

    /// An operator snoozed the alert until `until`: silent at its level and below until then.
    public static func snoozed(
        _ alert: StoredAlert, until: Date, by actor: String, at now: Date
    ) -> (alert: StoredAlert, announce: AlertEvent) {
        var alert = silenced(alert, as: .snoozed, at: now)
        alert.snoozedUntil = until
        alert.snoozedBy = actor
        return (alert, alert.event(.snoozed, at: now, by: actor, note: "until \(RFC3339.format(until))"))
    }

    /// Acknowledged and snoozed alerts are silent at their level and below.
    private static func silenced(_ alert: StoredAlert, as state: AlertState, at now: Date) -> StoredAlert {
        var alert = alert
        alert.state = state
        alert.silencedLevel = alert.level
        alert.updatedAt = now
        return alert
    }

    /// The alert resolved, by an operator or (`auto`) by the gateway.
    public static func resolved(
        _ alert: StoredAlert, by actor: String, note: String?, at now: Date
    ) -> (alert: StoredAlert, announce: AlertEvent) {
        var alert = alert
        alert.state = .resolved
        alert.resolvedAt = now
        alert.resolvedBy = actor
        alert.updatedAt = now
        return (alert, alert.event(.resolved, at: now, by: actor, note: note))
    }
}
