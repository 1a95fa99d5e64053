import ArgumentParser
import Foundation
import GatewayStore

struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create the gateway's database (the only command that does).",
        discussion: """
            Creates the SQLite database at database.path (or --db) with the current schema, mode \
            0660 (the daemon's user and the ccm-gateway group read and write it; others nothing), \
            and its folder (0770) when missing; the creation is recorded in the audit log. Every \
            other command, and ccm-gatewayd, refuses a missing database with this fix, so a \
            deleted or moved database is never silently replaced by an empty one. Safe to run \
            again: an existing database is never overwritten or emptied (it is only brought up \
            to this version's schema, as every command does when it opens it), and a file that is \
            not a ccm-gateway database is refused untouched. The Debian package runs it on \
            install.
            """)

    @OptionGroup var global: GlobalOptions

    func run() throws {
        let path = try global.databasePath()
        let (_, created) = try GatewayDatabase.initialize(path: path, by: global.actor)
        if created {
            print("created the database at \(path)")
        } else {
            print("the database at \(path) already exists; left as it is")
        }
    }
}
