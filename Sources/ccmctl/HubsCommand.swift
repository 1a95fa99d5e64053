import ArgumentParser
import Foundation
import GatewayCore
import GatewayPipeline
import GatewayStore

struct HubsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hubs",
        abstract: "Register the hubs that publish to the gateway over MQTT, and make their broker passwords.",
        discussion: """
            A hub is the broker account it logs in with: the shipped broker ACL lets account H1 publish \
            only under ccm/v1/hub/H1/. Inputs on the topic of a hub that is not registered are \
            quarantined (ccmctl hubs add replays them); those of a disabled hub are rejected. Time \
            entries over MQTT are taken only for the patients a hub is registered for (--patient). \
            Onboarding: ccmctl hubs add H1 --patient P1; ccmctl hubs credentials H1 --password-file \
            /etc/mosquitto/passwd; reload mosquitto; set username H1 and the printed password on the hub.
            """,
        subcommands: [Add.self, List.self, Show.self, Disable.self, Enable.self, Remove.self, Credentials.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register a hub (or add patients to a registered one) and replay its quarantined inputs.")

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The hub id: its broker username and its topic level after hub/ (\(EntityID.rule(.hub))).")
        var id: String

        @Option(name: .customLong("patient"), help: "A patient the hub may post time entries for (repeat for several).")
        var patients: [String] = []

        @Option(help: "Make and model, for operators.")
        var model: String?

        func run() throws {
            let id = try validatedID(id, .hub, at: "hub id")
            let existed = try global.open(.existing).hub(id) != nil
            let outcomes = try global.pipeline().addHub(id, patients: patients, model: model, by: global.actor)
            print(
                (existed ? "updated hub \(id)" : "added hub \(id)")
                    + (patients.isEmpty
                        ? "" : " for patient\(patients.count == 1 ? "" : "s") \(patients.joined(separator: ", "))"))
            printReplay(outcomes)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List hubs.")

        @OptionGroup var global: GlobalOptions

        @Option(help: "table, json or csv.")
        var format: OutputFormat = .table

        func run() throws {
            let hubs = try global.open(.existing).hubs()
            let listing = Listing(
                columns: ["id", "state", "model", "patients", "credentials_at"],
                rows: hubs.map { h in
                    [
                        .text(h.id), .text(h.enabled ? "enabled" : "disabled"), .optional(h.model),
                        .text(h.patients.joined(separator: " ")), .date(h.credentialsAt),
                    ]
                },
                emptyMessage: "no hubs; register one with ccmctl hubs add HUB --patient PATIENT")
            print(listing.render(format))
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a hub: state, patients, devices bound to it, credentials.")

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The hub id.")
        var id: String

        func run() throws {
            let database = try global.open(.existing)
            guard let hub = try database.hub(id) else {
                throw CLIError("no hub \(id)", fix: "register it with ccmctl hubs add \(id)")
            }
            let devices = try database.devices().filter { $0.hubID == id }.map(\.id)
            print("hub \(hub.id)")
            print(
                "  state: "
                    + (hub.enabled
                        ? "enabled"
                        : "disabled since \(RFC3339.format(hub.disabledAt!))"
                            + (hub.disabledBy.map { " by \($0)" } ?? "")))
            print("  model: \(hub.model ?? "-")")
            print("  registered: \(RFC3339.format(hub.createdAt))")
            print(
                "  time entries for: " + (hub.patients.isEmpty ? "no patients" : hub.patients.joined(separator: ", ")))
            print("  devices bound: " + (devices.isEmpty ? "none" : devices.joined(separator: ", ")))
            print(
                "  broker password: "
                    + (hub.credentialsAt.map { "made \(RFC3339.format($0))" }
                        ?? "none yet (ccmctl hubs credentials \(id))"))
        }
    }

    struct Disable: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Stop taking a hub's inputs: they are rejected until it is enabled. Remove its line from the broker's password file too."
        )

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The hub id.")
        var id: String

        func run() throws {
            try global.open(.existing).setHubEnabled(id, false, by: global.actor)
            print("disabled hub \(id); its inputs are rejected from now on")
        }
    }

    struct Enable: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Take a disabled hub's inputs again.")

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The hub id.")
        var id: String

        func run() throws {
            try global.open(.existing).setHubEnabled(id, true, by: global.actor)
            print("enabled hub \(id)")
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Remove a hub (one no device is bound to), or with --patient only its permission to post time for that patient."
        )

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The hub id.")
        var id: String

        @Option(help: "Only take this patient off the hub's list.")
        var patient: String?

        func run() throws {
            try global.open(.existing).removeHub(id, patient: patient, by: global.actor)
            print(
                patient.map { "hub \(id) no longer posts time for patient \($0)" }
                    ?? "removed hub \(id); its later inputs are quarantined as from an unknown hub")
        }
    }

    struct Credentials: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make (or rotate) a hub's broker password and print it once.",
            discussion: """
                Prints the new password (configure it on the hub with username HUB) and the hub's line for \
                mosquitto's password file, hashed by mosquitto_passwd (PBKDF2-SHA512, $7$). The gateway keeps \
                only the hash. With --password-file the line replaces the hub's line in that file (other \
                lines are kept); then reload mosquitto (sudo systemctl reload mosquitto, or SIGHUP) so the \
                old password stops working.
                """)

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The hub id (its broker username).")
        var id: String

        @Option(
            help: ArgumentHelp(
                "mosquitto's password file to put the hub's line in (e.g. /etc/mosquitto/passwd).", valueName: "path"))
        var passwordFile: String?

        @Option(help: ArgumentHelp("The mosquitto_passwd program.", valueName: "path"))
        var mosquittoPasswd = "/usr/bin/mosquitto_passwd"

        func run() throws {
            let database = try global.open(.existing)
            guard let hub = try database.hub(id) else {
                throw CLIError("no hub \(id)", fix: "register it first with ccmctl hubs add \(id)")
            }
            guard hub.enabled else {
                throw CLIError("hub \(id) is disabled", fix: "enable it with ccmctl hubs enable \(id) first")
            }
            let password = Self.newPassword()
            let line = try Self.passwordLine(user: id, password: password, tool: mosquittoPasswd)
            if let passwordFile { try Self.install(line, user: id, in: passwordFile) }
            try database.setHubCredentials(id, passwordHash: String(line.dropFirst(id.count + 1)), by: global.actor)
            print("username: \(id)")
            print("password: \(password)")
            if let passwordFile {
                print(
                    "wrote \(id)'s line to \(passwordFile); reload mosquitto (sudo systemctl reload mosquitto) to lock the old password out"
                )
            } else {
                print("password file line: \(line)")
            }
            print("the password is shown only now; the gateway keeps its hash only")
        }

        /// 32 characters from A-Z a-z 0-9 (190 bits).
        static func newPassword() -> String {
            let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
            var generator = SystemRandomNumberGenerator()
            return String((0..<32).map { _ in alphabet[Int(generator.next(upperBound: UInt64(alphabet.count)))] })
        }

        /// The password file line `user:$7$...` as mosquitto_passwd writes it; the password goes
        /// to it on standard input, never on a command line.
        static func passwordLine(user: String, password: String, tool: String) throws -> String {
            guard FileManager.default.isExecutableFile(atPath: tool) else {
                throw CLIError(
                    "--mosquitto-passwd: \(tool) is not there",
                    fix: "install mosquitto (apt install mosquitto) or give its path")
            }
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ccmctl-\(UUID().uuidString)")
                .path
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let file = directory + "/passwd"
            let process = Process()
            process.executableURL = URL(fileURLWithPath: tool)
            process.arguments = ["-c", file, user]
            let input = Pipe()
            let errors = Pipe()
            process.standardInput = input
            process.standardOutput = FileHandle.nullDevice
            process.standardError = errors
            try process.run()
            input.fileHandleForWriting.write(Data("\(password)\n\(password)\n".utf8))
            try input.fileHandleForWriting.close()
            let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            let text = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
            guard process.terminationStatus == 0, let line = text.split(separator: "\n").first,
                line.hasPrefix("\(user):$")
            else {
                throw CLIError(
                    "\(tool) could not hash the password (exit \(process.terminationStatus)): \(message.trimmingCharacters(in: .whitespacesAndNewlines))"
                )
            }
            return String(line)
        }

        /// Replaces `user`'s line in the password file (or adds it), keeping the other lines and
        /// the file's owner and mode; written to a new file and renamed over the old one.
        static func install(_ line: String, user: String, in path: String) throws {
            let manager = FileManager.default
            var lines: [String] = []
            var attributes: [FileAttributeKey: Any] = [.posixPermissions: 0o640]
            if manager.fileExists(atPath: path) {
                do {
                    lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
                    let existing = try manager.attributesOfItem(atPath: path)
                    attributes = existing.filter {
                        [.posixPermissions, .ownerAccountID, .groupOwnerAccountID].contains($0.key)
                    }
                } catch {
                    throw CLIError(
                        "--password-file: cannot read \(path) (\(error.localizedDescription))",
                        fix: "run as a user who can (sudo)")
                }
            }
            lines.removeAll { $0.hasPrefix(user + ":") }
            lines.append(line)
            let temporary = path + ".ccmctl-new"
            guard
                manager.createFile(
                    atPath: temporary, contents: Data((lines.joined(separator: "\n") + "\n").utf8),
                    attributes: [.posixPermissions: 0o600])
            else {
                throw CLIError("--password-file: cannot write next to \(path)", fix: "run as a user who can (sudo)")
            }
            // The owner and group stay when we may set them (root); the mode always.
            try? manager.setAttributes(attributes.filter { $0.key != .posixPermissions }, ofItemAtPath: temporary)
            do {
                try manager.setAttributes(attributes.filter { $0.key == .posixPermissions }, ofItemAtPath: temporary)
                guard rename(temporary, path) == 0 else { throw CLIError(String(cString: strerror(errno))) }
            } catch {
                try? manager.removeItem(atPath: temporary)
                throw CLIError(
                    "--password-file: cannot replace \(path) (\(error))", fix: "run as a user who can (sudo)")
            }
        }
    }
}

struct StaffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "staff",
        abstract: "The staff whose time bills: time entries naming anyone else are rejected.",
        discussion: """
            A time entry (ccmctl time add, alerts ack --minutes, the MQTT time topic) must name registered, \
            enabled staff in their registered role. The name is what --by gives (ccmctl) or "staff" in a \
            time entry (MQTT).
            """,
        subcommands: [Add.self, List.self, Disable.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register a staff member.")

        @OptionGroup var global: GlobalOptions

        @Argument(help: "Their name as time entries give it (nurse.kim).")
        var name: String

        @Option(help: "clinical_staff or physician.")
        var role: TimeEntryInput.Role

        func run() throws {
            try global.open(.existing).addStaff(name, role: role, by: global.actor)
            print("added staff \(name) (\(role.rawValue))")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List staff.")

        @OptionGroup var global: GlobalOptions

        @Option(help: "table, json or csv.")
        var format: OutputFormat = .table

        func run() throws {
            let staff = try global.open(.existing).staff()
            let listing = Listing(
                columns: ["name", "role", "state", "added"],
                rows: staff.map { s in
                    [
                        .text(s.id), .text(s.role.rawValue), .text(s.enabled ? "enabled" : "disabled"),
                        .date(s.createdAt),
                    ]
                },
                emptyMessage: "no staff; register them with ccmctl staff add NAME --role clinical_staff|physician")
            print(listing.render(format))
        }
    }

    struct Disable: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop a staff member's time from billing (their entries so far stay).")

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The staff member's name.")
        var name: String

        func run() throws {
            try global.open(.existing).disableStaff(name, by: global.actor)
            print("disabled staff \(name)")
        }
    }
}
