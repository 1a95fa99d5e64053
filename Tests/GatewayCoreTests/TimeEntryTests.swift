import Foundation
import GatewayCore
import Testing

@Suite("Time entry format v1")
struct TimeEntryTests {
    func parse(_ json: String) -> Result<TimeEntryInput, Rejection> {
        switch TimeEntryV1.parse(Data(json.utf8)) {
        case .success(let items): items[0]
        case .failure(let rejection): .failure(rejection)
        }
    }

    static let base =
        #""v":1,"patient":"P1","start":"2026-03-04T10:05:00-06:00","staff":"dr.lee","role":"physician","program":"ccm""#

    @Test("Minutes or an end time; calls and video are interactive unless said otherwise")
    func valid() throws {
        let call = try parse("{\(Self.base),\"minutes\":12,\"activity\":\"call\"}").get()
        #expect(call.minutes == 12)
        #expect(call.interactive)
        #expect(call.role == .physician)
        let review = try parse("{\(Self.base),\"end\":\"2026-03-04T10:35:59-06:00\",\"activity\":\"review\"}").get()
        #expect(review.minutes == 30)
        #expect(!review.interactive)
        let email = try parse("{\(Self.base),\"minutes\":5,\"activity\":\"email\",\"interactive\":true}").get()
        #expect(email.interactive)
    }

    @Test(
        "Mistakes name the field",
        arguments: [
            (
                #""minutes":12,"activity":"call","mood":"good""#,
                "mood: unknown field; a time entry v1 allows v, patient, start, minutes, end, staff, role, program, activity, interactive, note, id"
            ),
            (
                #""minutes":12,"activity":"lunch""#,
                "activity: \"lunch\" is not one of call, video, email, review, care_plan, coordination, alert"
            ),
            (#""minutes":12.5,"activity":"call""#, "minutes: required: whole minutes (or an end time)"),
            (#""minutes":0,"activity":"call""#, "minutes: 0 is not between 1 and 600; split longer work into entries"),
            (
                #""minutes":1e308,"activity":"call""#,
                "minutes: 1e+308 is not between 1 and 600; split longer work into entries"
            ),
            (
                #""minutes":-9223372036854775808,"activity":"call""#,
                "minutes: -9.223372036854776e+18 is not between 1 and 600; split longer work into entries"
            ),
            (#""minutes":5,"end":"2026-03-04T10:10:00-06:00","activity":"call""#, "end: give minutes or end, not both"),
            (#""end":"2026-03-04T09:00:00-06:00","activity":"call""#, "end: must be an RFC 3339 time after start"),
        ])
    func mistakes(fields: String, message: String) {
        #expect(parse("{\(Self.base),\(fields)}").failure?.description == message)
    }

    @Test("A start outside 2015-2099 is refused, never stored as a date that cannot be read back")
    func startOutsideTheWindow() {
        let far =
            #"{"v":1,"patient":"P1","start":"9999-12-31T23:59:59-23:59","minutes":12,"staff":"dr.lee","role":"physician","program":"ccm","activity":"call"}"#
        #expect(
            parse(far).failure?.description
                == "start: 10000-01-01T23:58:59Z is not between 2015 and 2099; check the clock of the app that sent it")
        let early =
            #"{"v":1,"patient":"P1","start":"1999-12-31T23:59:59Z","minutes":12,"staff":"dr.lee","role":"physician","program":"ccm","activity":"call"}"#
        #expect(parse(early).failure?.field == "start")
    }
}
