import Foundation
import GatewayCore
import Testing

/// The alert state machine without a database: each step from a finding, the timer or an operator.
@Suite("Alert book")
struct AlertBookTests {
    let t0 = Date(timeIntervalSince1970: 1_790_000_000)

    func out(
        _ level: AlertLevel, _ value: String = "182 mmHg", reading: Int64 = 1, resolveAfter: Double = 3600
    ) -> Finding {
        Finding(
            ruleID: "sbp", title: "Systolic high", level: level, value: value, threshold: "> 180 mmHg",
            readingID: reading,
            resolveAfter: resolveAfter)
    }

    func inRange(resolveAfter: Double = 3600) -> Finding {
        Finding(
            ruleID: "sbp", title: "Systolic high", level: nil, value: "120 mmHg", threshold: "> 180 mmHg", readingID: 9,
            resolveAfter: resolveAfter)
    }

    func alert(
        _ level: AlertLevel = .warning, state: AlertState = .open, lastSeenAt: Date? = nil, inRangeSince: Date? = nil
    ) -> StoredAlert {
        StoredAlert(
            id: 7, patientID: "P1", ruleID: "sbp", title: "Systolic high", level: level, state: state, openedAt: t0,
            updatedAt: t0,
            firstValue: "182 mmHg", lastValue: "182 mmHg", threshold: "> 180 mmHg", lastReadingID: 1,
            lastSeenAt: lastSeenAt ?? t0,
            inRangeSince: inRangeSince, resolveAfter: 3600, silencedLevel: state == .open ? nil : level)
    }

    @Test("Out of range with no alert raises one; in range with no alert does nothing")
    func raise() {
        #expect(AlertBook.step(out(.urgent), existing: nil, seenAt: t0, now: t0, fromTimer: false) == .raise(.urgent))
        #expect(AlertBook.step(inRange(), existing: nil, seenAt: t0, now: t0, fromTimer: false) == .none)
        let event = AlertBook.raised(out(.urgent), level: .urgent, id: 3, patient: "P1", at: t0)
        #expect(event.kind == .raised && event.alertID == 3 && event.value == "182 mmHg")
    }

    @Test("A repeat at the same level is counted quietly; a higher level escalates and is announced")
    func repeatAndEscalate() throws {
        guard
            case .repeated(let quiet, let none) = AlertBook.step(
                out(.warning, "185 mmHg", reading: 2), existing: alert(), seenAt: t0 + 60, now: t0 + 60,
                fromTimer: false)
        else { Issue.record("not a repeat"); return }
        #expect(none == nil)
        #expect(
            quiet.count == 2 && quiet.lastValue == "185 mmHg" && quiet.lastReadingID == 2 && quiet.lastSeenAt == t0 + 60
        )

        let acknowledged = AlertBook.acknowledged(alert(), by: "nurse", minutes: 5, note: nil, at: t0).alert
        guard
            case .repeated(let loud, let event) = AlertBook.step(
                out(.urgent, "210 mmHg"), existing: acknowledged, seenAt: t0 + 60, now: t0 + 60, fromTimer: false)
        else { Issue.record("not a repeat"); return }
        #expect(loud.level == .urgent && loud.state == .open && loud.silencedLevel == nil)
        #expect(event?.kind == .escalated && event?.value == "210 mmHg")
    }

    @Test("A late reading measured earlier does not replace the latest value, and counts")
    func lateReading() {
        guard
            case .repeated(let alert, _) = AlertBook.step(
                out(.warning, "190 mmHg", reading: 5), existing: alert(lastSeenAt: t0 + 600), seenAt: t0, now: t0 + 700,
                fromTimer: false)
        else { Issue.record("not a repeat"); return }
        #expect(
            alert.count == 2 && alert.lastValue == "182 mmHg" && alert.lastReadingID == 1
                && alert.lastSeenAt == t0 + 600)
    }

    @Test("A snooze that ran out is announced again by the next reading out of range, not before")
    func snoozeRunsOut() {
        var snoozed = AlertBook.snoozed(alert(), until: t0 + 3600, by: "nurse", at: t0).alert
        #expect(snoozed.state == .snoozed && snoozed.silencedLevel == .warning)
        guard
            case .repeated(_, let early) = AlertBook.step(
                out(.warning), existing: snoozed, seenAt: t0 + 60, now: t0 + 60, fromTimer: false)
        else { Issue.record("not a repeat"); return }
        #expect(early == nil)
        snoozed.count = 1
        guard
            case .repeated(let reopened, let late) = AlertBook.step(
                out(.warning), existing: snoozed, seenAt: t0 + 4000, now: t0 + 4000, fromTimer: false)
        else { Issue.record("not a repeat"); return }
        #expect(late?.kind == .repeated && reopened.state == .open && reopened.silencedLevel == nil)
    }

    @Test(
        "Back in range: the period starts at the earliest such reading by device time and resolves after resolve_after")
    func inRangePeriod() {
        guard
            case .inRange(let first, true, false) = AlertBook.step(
                inRange(), existing: alert(), seenAt: t0 + 1000, now: t0 + 1000, fromTimer: false)
        else { Issue.record("no in-range period"); return }
        #expect(first.inRangeSince == t0 + 1000)
        // An earlier in-range reading arriving later moves the start back; a later one keeps it.
        guard
            case .inRange(let earlier, true, _) = AlertBook.step(
                inRange(), existing: first, seenAt: t0 + 500, now: t0 + 1100, fromTimer: false)
        else { Issue.record("start not moved"); return }
        #expect(earlier.inRangeSince == t0 + 500)
        guard
            case .inRange(_, false, let resolves) = AlertBook.step(
                inRange(), existing: earlier, seenAt: t0 + 5000, now: t0 + 4100, fromTimer: false)
        else { Issue.record("start moved"); return }
        #expect(resolves, "3600 s in range since t0+500 have passed at t0+4100")
        // A reading measured before the last one out of range says nothing about now.
        #expect(
            AlertBook.step(
                inRange(), existing: alert(lastSeenAt: t0 + 600), seenAt: t0 + 100, now: t0 + 700, fromTimer: false)
                == .none)
        #expect(AlertBook.autoResolveNote(earlier).hasPrefix("in range since "))
    }

    @Test("Out of range after an in-range period ends it only when measured after the period began")
    func outEndsPeriod() {
        guard
            case .repeated(let ended, _) = AlertBook.step(
                out(.warning), existing: alert(inRangeSince: t0 + 100), seenAt: t0 + 200, now: t0 + 200,
                fromTimer: false)
        else { Issue.record("not a repeat"); return }
        #expect(ended.inRangeSince == nil)
        guard
            case .repeated(let kept, _) = AlertBook.step(
                out(.warning), existing: alert(inRangeSince: t0 + 100), seenAt: t0 + 50, now: t0 + 200, fromTimer: false
            )
        else { Issue.record("not a repeat"); return }
        #expect(kept.inRangeSince == t0 + 100)
    }

    @Test(
        "The timer keeps a stale alert fresh without counting a repeat; a snooze ending is announced only while out of range"
    )
    func timer() {
        #expect(
            AlertBook.step(out(.warning, "no reading for 73h"), existing: alert(), seenAt: t0, now: t0, fromTimer: true)
                == .refresh(value: "no reading for 73h"))
        #expect(AlertBook.snoozeEnded(alert(state: .snoozed), now: t0).announce?.kind == .repeated)
        #expect(AlertBook.snoozeEnded(alert(state: .snoozed, inRangeSince: t0), now: t0).announce == nil)
    }

    @Test("A reading evaluated again raises or escalates only")
    func reevaluated() {
        #expect(AlertBook.raisesOrEscalates(out(.warning), open: nil))
        #expect(AlertBook.raisesOrEscalates(out(.urgent), open: .warning))
        #expect(!AlertBook.raisesOrEscalates(out(.warning), open: .warning))
        #expect(!AlertBook.raisesOrEscalates(inRange(), open: nil))
    }

    @Test("Operator steps: acknowledge silences at the level, resolve closes")
    func operatorSteps() {
        let (acked, event) = AlertBook.acknowledged(
            alert(state: .snoozed), by: "nurse", minutes: 4, note: "called", at: t0 + 10)
        #expect(
            acked.state == .acknowledged && acked.silencedLevel == .warning && acked.snoozedUntil == nil
                && acked.ackMinutes == 4)
        #expect(event.kind == .acknowledged && event.by == "nurse" && event.note == "called")
        let (resolved, closing) = AlertBook.resolved(acked, by: "auto", note: nil, at: t0 + 20)
        #expect(resolved.state == .resolved && resolved.resolvedBy == "auto" && closing.kind == .resolved)
    }
}
