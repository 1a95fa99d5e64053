import Foundation
import GatewayTestSupport
import Logging
import Testing

@testable import ccm_gatewayd

#if canImport(Glibc)
import Glibc
#endif

@Suite("systemd conventions", .ownThreads)
struct SystemdTests {
    @Test("NOTIFY_SOCKET: a path or an abstract name; anything else means not under systemd")
    func notifySocket() {
        #expect(SystemdNotify(environment: [:]) == nil)
        #expect(SystemdNotify(environment: ["NOTIFY_SOCKET": "relative/path"]) == nil)
        #expect(
            SystemdNotify(environment: ["NOTIFY_SOCKET": "/run/systemd/notify"])?.socketPath == "/run/systemd/notify")
        #expect(SystemdNotify(environment: ["NOTIFY_SOCKET": "@abstract"])?.socketPath == "@abstract")
    }

    @Test("A datagram reaches the socket with every assignment")
    func sends() throws {
        let directory = TemporaryDirectory()
        let listener = try NotifyListener(directory: directory.path)
        let notify = try #require(SystemdNotify(environment: ["NOTIFY_SOCKET": listener.path]))
        #expect(notify.send(["READY=1", "STATUS=ok"]))
        #expect(listener.next() == "READY=1\nSTATUS=ok")
    }

    @Test("Journal priorities follow syslog: critical 2 … debug 7")
    func priorities() {
        let expected: [(Logger.Level, Int)] = [
            (.critical, 2), (.error, 3), (.warning, 4), (.notice, 5), (.info, 6), (.debug, 7), (.trace, 7),
        ]
        for (level, priority) in expected { #expect(JournalLogHandler.priority(level) == priority) }
    }

    @Test("stderr is the journal only when JOURNAL_STREAM names fd 2's device and inode")
    func journalDetection() {
        var info = stat()
        fstat(2, &info)
        #expect(JournalLogHandler.stderrIsJournal(environment: ["JOURNAL_STREAM": "\(info.st_dev):\(info.st_ino)"]))
        #expect(
            !JournalLogHandler.stderrIsJournal(environment: ["JOURNAL_STREAM": "\(info.st_dev):\(info.st_ino + 1)"]))
        #expect(!JournalLogHandler.stderrIsJournal(environment: ["JOURNAL_STREAM": "garbage"]))
        #expect(!JournalLogHandler.stderrIsJournal(environment: [:]))
    }
}
