import Foundation
import GatewayTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The operators' group (README, "Operating it"; docs/architecture.md § "The database"): the
/// documented model, for real. The daemon runs as its own user; an
/// operator in the daemon's group runs ccmctl (list, ingest, ack) on the same database at the
/// same time; a user outside the group is refused with the fix; nothing is world-readable.
/// Throwaway users and a group are made with useradd and groupadd, and the programs run as
/// them through setpriv, so the test needs root (as in CI).
@Suite("Operators in the gateway's group", .ownThreads)
struct OperatorGroupTests {
    static let tools = [
        "/usr/sbin/useradd", "/usr/sbin/userdel", "/usr/sbin/groupadd", "/usr/sbin/groupdel", "/usr/bin/setpriv",
    ]
    static let skipReason: String? =
        getuid() != 0
        ? "needs root to create throwaway users and a group (useradd, groupadd) and to run ccmctl as them (setpriv)"
        : tools.first(where: { !FileManager.default.isExecutableFile(atPath: $0) }).map { "\($0) is missing" }

    /// A group like ccm-gateway, the daemon's user in it, an operator in it, and a user outside.
    final class Accounts {
        let group: String
        let daemon: String
        let member: String
        let outsider: String

        init() throws {
            let tag = UUID().uuidString.prefix(6).lowercased()
            group = "ccmt-\(tag)"
            daemon = "ccmt-\(tag)-d"
            member = "ccmt-\(tag)-m"
            outsider = "ccmt-\(tag)-x"
            try Self.run("/usr/sbin/groupadd", [group])
            try Self.run(
                "/usr/sbin/useradd",
                ["--no-create-home", "--no-user-group", "--gid", group, "--shell", "/usr/sbin/nologin", daemon])
            try Self.run(
                "/usr/sbin/useradd",
                ["--no-create-home", "--user-group", "--groups", group, "--shell", "/usr/sbin/nologin", member])
            try Self.run(
                "/usr/sbin/useradd", ["--no-create-home", "--user-group", "--shell", "/usr/sbin/nologin", outsider])
        }

        static func run(_ tool: String, _ arguments: [String]) throws {
            let status = try Spawned(tool, arguments).wait(timeout: 30)
            guard status == 0 else {
                throw SupportError(
                    description:
                        "\(tool) \(arguments.joined(separator: " ")) failed (\(status.map(String.init) ?? "timed out"))"
                )
            }
        }

        var gid: gid_t { getgrnam(group)?.pointee.gr_gid ?? 0 }

        deinit {
            for user in [daemon, member, outsider] { try? Self.run("/usr/sbin/userdel", [user]) }
            try? Self.run("/usr/sbin/groupdel", [group])
        }
    }

    struct Result {
        let status: Int32?
        let out: String
        let err: String
    }

    /// Runs `binary` as `user` (primary group `group`, supplementary groups from /etc/group)
    /// under umask 077, the most closed an operator's shell may have.
    static func run(
        as user: String, group: String? = nil, _ binary: String, _ arguments: [String], in directory: TemporaryDirectory
    ) throws -> Result {
        let tag = UUID().uuidString.prefix(8)
        let out = directory.file("out-\(tag)"), err = directory.file("err-\(tag)")
        let child = try Spawned(
            "/bin/sh",
            [
                "-c", "umask 077 && exec \"$@\"", "sh", "/usr/bin/setpriv", "--reuid=\(user)",
                "--regid=\(group ?? user)", "--init-groups",
                "--", binary,
            ] + arguments,
            environment: ["PATH": "/usr/bin:/bin", "USER": user, "TZ": "UTC", "HOME": "/"], stdout: out, stderr: err)
        let status = child.wait(timeout: 30)
        return Result(
            status: status, out: (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
            err: (try? String(contentsOfFile: err, encoding: .utf8)) ?? "")
    }

    static func mode(_ path: String) -> (mode: Int, gid: gid_t)? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return (Int(info.st_mode & 0o7777), info.st_gid)
    }

    @Test(
        "A member of the group lists, ingests and acknowledges while the daemon runs as another user; a non-member is refused; nothing is world-readable",
        .enabled(if: skipReason == nil, Comment(rawValue: skipReason ?? "")))
    func operators() throws {
        let accounts = try Accounts()
        let directory = TemporaryDirectory()
        #expect(chmod(directory.path, 0o755) == 0)
        // The binaries and templates where every user can reach them (the checkout may not be).
        // Hard links where they can be: a copy is written through a file descriptor that a child
        // another test forks at that moment inherits, and exec then fails with ETXTBSY.
        let ccmctl = directory.file("ccmctl"), gatewayd = directory.file("ccm-gatewayd")
        for (name, path) in [("ccmctl", ccmctl), ("ccm-gatewayd", gatewayd)]
        where link(TestPaths.product(name), path) != 0 {
            try FileManager.default.copyItem(atPath: TestPaths.product(name), toPath: path)
        }
        try FileManager.default.copyItem(
            atPath: repository.appendingPathComponent("config/careplans").path, toPath: directory.file("careplans"))

        // What the package makes (tmpfiles.d): the state folder 2770 and the log folder 0750,
        // owned by the daemon's user and group.
        let state = directory.file("state"), logs = directory.file("log")
        for (folder, mode) in [(state, mode_t(0o2770)), (logs, mode_t(0o750))] {
            #expect(mkdir(folder, 0o700) == 0)
            #expect(chown(folder, getpwnam(accounts.daemon)!.pointee.pw_uid, accounts.gid) == 0)
            #expect(chmod(folder, mode) == 0)
        }
        let database = state + "/ccm-gateway.sqlite"
        let alertLog = logs + "/alerts.log"
        let config = directory.file("gateway.yaml")
        try """
        database:
          path: \(database)
        practice:
          time_zone: America/Chicago
        careplans:
          directory: \(directory.file("careplans"))
        alerts:
          log: \(alertLog)
        metrics:
          textfile: \(state)/ccm-gateway.prom
        mqtt:
          enabled: false
        ble:
          enabled: false
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let readings = directory.file("readings.jsonl")
        try
            #"{"v":1,"device":"A4:C1:38:12:34:56","kind":"blood_pressure","measured_at":"2026-03-04T07:42:10-06:00","unit":"mmHg","values":{"systolic":185,"diastolic":125}}"#
            .write(toFile: readings, atomically: true, encoding: .utf8)
        for file in [config, readings] { #expect(chmod(file, 0o644) == 0) }

        // The postinst: ccmctl init as the daemon's user.
        let initialized = try Self.run(
            as: accounts.daemon, group: accounts.group, ccmctl, ["init", "--config", config], in: directory)
        try #require(initialized.status == 0, "ccmctl init as the daemon's user failed: \(initialized.err)")

        // The daemon, as its user, holding the database open (it made -wal and -shm).
        let notify = try NotifyListener(directory: directory.path)
        #expect(chmod(notify.path, 0o666) == 0)
        let daemonLog = directory.file("gatewayd.log")
        let daemon = try Spawned(
            "/usr/bin/setpriv",
            [
                "--reuid=\(accounts.daemon)", "--regid=\(accounts.group)", "--init-groups", "--", gatewayd, "--config",
                config,
            ],
            environment: ["NOTIFY_SOCKET": notify.path, "PATH": "/usr/bin:/bin"], stderr: daemonLog)
        guard notify.waitFor("READY=1") != nil else {
            daemon.terminate(SIGKILL)
            Issue.record(
                "the daemon did not start as \(accounts.daemon): \((try? String(contentsOfFile: daemonLog, encoding: .utf8)) ?? "")"
            )
            return
        }
        var stopped = false
        defer { if !stopped { _ = daemon.terminate(SIGKILL) } }

        // The operator, a member of the group only through its supplementary groups.
        let steps: [([String], String?)] = [
            (["patients", "add", "P1", "--name", "Ada Test"], "added patient P1"),
            (["devices", "add", "A4:C1:38:12:34:56", "--kind", "bp_monitor", "--patient", "P1"], nil),
            (["careplan", "set", "P1", "--template", "hypertension"], nil),
            (["ingest", readings], "alert 1 raised: urgent P1 bp-high"),
            (["readings", "list", "--format", "csv"], "A4:C1:38:12:34:56"),
            (["staff", "add", accounts.member, "--role", "clinical_staff"], "added staff"),
            (["alerts", "ack", "1", "--minutes", "5"], "acknowledged alert 1; 5 minutes recorded in the time ledger"),
            (["inbox", "list"], nil),
            (["status"], "running since"),
        ]
        for (arguments, expected) in steps {
            let result = try Self.run(as: accounts.member, ccmctl, arguments + ["--config", config], in: directory)
            #expect(result.status == 0, "ccmctl \(arguments.joined(separator: " ")) as a group member: \(result.err)")
            #expect(
                result.err.isEmpty, "ccmctl \(arguments.joined(separator: " ")) as a group member warned: \(result.err)"
            )
            if let expected {
                #expect(result.out.contains(expected), "ccmctl \(arguments.joined(separator: " ")): \(result.out)")
            }
        }
        let lines = ((try? String(contentsOfFile: alertLog, encoding: .utf8)) ?? "").split(separator: "\n")
        #expect(
            lines.contains { $0.contains(" acknowledged alert=1 ") && $0.contains(" by=\(accounts.member) event_id=") })

        // A user outside the group: refused with the fix, and nothing made.
        let before = try FileManager.default.contentsOfDirectory(atPath: state).sorted()
        for arguments in [["readings", "list"], ["ingest", readings]] {
            let result = try Self.run(as: accounts.outsider, ccmctl, arguments + ["--config", config], in: directory)
            #expect(result.status == 1)
            #expect(
                result.err
                    == "Error: cannot read the database at \(database): permission denied (its folder is closed to this user); run ccmctl as a member of the ccm-gateway group (sudo usermod -aG ccm-gateway $USER, then log in again) or pass --db with a file you can read\n"
            )
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: state).sorted() == before)

        // Everything in the shared folders (the daemon still running, so -wal and -shm are
        // there): the group's, read-write for it, nothing for others.
        #expect(Self.mode(state)?.mode == 0o2770)
        #expect(
            Set(before).isSuperset(of: [
                "ccm-gateway.sqlite", "ccm-gateway.sqlite-wal", "ccm-gateway.sqlite-shm", "ccm-gateway.sqlite.lock",
            ]))
        for name in before {
            let file = try #require(Self.mode(state + "/" + name))
            #expect(file.mode & 0o007 == 0, "\(name) is open to others: \(String(file.mode, radix: 8))")
            #expect(file.gid == accounts.gid, "\(name) is not the group's")
        }
        for file in [database, alertLog] {
            #expect(Self.mode(file)?.mode == 0o660, "\(file): \(String(Self.mode(file)?.mode ?? 0, radix: 8))")
            #expect(Self.mode(file)?.gid == accounts.gid)
        }
        kill(daemon.pid, SIGTERM)
        #expect(daemon.wait(timeout: 60) == 0)
        stopped = true
    }
}
