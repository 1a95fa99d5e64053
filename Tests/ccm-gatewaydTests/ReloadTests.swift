import Foundation
import GatewayCore
import GatewayPipeline
import GatewayStore
import GatewayTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("ccm-gatewayd alerts", .ownThreads)
struct ReloadTests {
    static func bp(_ systolic: Int, _ diastolic: Int, minute: Int) -> String {
        let at = RFC3339.format(Date().addingTimeInterval(Double(minute - 60) * 60))
        return
            #"{"v":1,"device":"A4:C1:38:12:34:56","kind":"blood_pressure","measured_at":"\#(at)","unit":"mmHg","values":{"systolic":\#(systolic),"diastolic":\#(diastolic)}}"#
            + "\n"
    }

    @Test("Readings from the daemon's stdin raise alerts into the log; SIGHUP reopens it after a rotation")
    func sighupReopensAlertLog() throws {
        let directory = TemporaryDirectory()
        let log = directory.path + "/alerts.log"
        let configPath = try writeDaemonConfig(in: directory, alertLog: log)
        let database = try GatewayDatabase(path: directory.path + "/gateway.sqlite", mode: .create)
        try database.addPatient(Patient(id: "P1", name: "Ada Secretname", timeZone: "UTC"), by: "test")
        try Pipeline(database: database).addDevice(
            Device(id: "A4:C1:38:12:34:56", kind: .bloodPressureMonitor, patientID: "P1"), by: "test")
        try database.setCarePlan(patient: "P1", templates: ["hypertension"], overrides: [], by: "test")

        let notify = try NotifyListener(directory: directory.path)
        let input = Pipe()
        let journal = directory.path + "/stderr.log"
        _ = FileManager.default.createFile(atPath: journal, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: TestPaths.product("ccm-gatewayd"))
        process.arguments = ["--config", configPath, "--replay", "-"]
        process.environment = ["NOTIFY_SOCKET": notify.path, "PATH": "/usr/bin:/bin"]
        process.standardInput = input
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: journal))
        try process.run()
        defer {
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
        }
        #expect(notify.waitFor("READY=1") != nil)

        input.fileHandleForWriting.write(Data(Self.bp(182, 121, minute: 0).utf8))
        #expect(waitUntil(log, contains: "raised alert=1 patient=P1 rule=bp-high"))
        try FileManager.default.moveItem(atPath: log, toPath: log + ".1")
        kill(process.processIdentifier, SIGHUP)
        #expect(waitUntil(journal, contains: "alert log reopened"))
        #expect(waitUntil(journal, contains: "care-plan templates reloaded"))
        input.fileHandleForWriting.write(Data(Self.bp(72, 50, minute: 5).utf8))
        #expect(waitUntil(log, contains: "raised alert=2 patient=P1 rule=bp-low"))
        let rotated = try String(contentsOfFile: log + ".1", encoding: .utf8)
        #expect(rotated.split(separator: "\n").count == 1)

        kill(process.processIdentifier, SIGTERM)
        #expect(notify.waitFor("STOPPING=1") != nil)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        // The journal side: ids, rule and level; no values, no names.
        let stderr = try String(contentsOfFile: journal, encoding: .utf8)
        #expect(stderr.contains("alert.id=1"))
        #expect(stderr.contains("alert.rule=bp-high"))
        #expect(!stderr.contains("182"))
        #expect(!stderr.contains("Secretname"))
    }
}
