import ArgumentParser
import Foundation
import GatewayConfig
import GatewayCore
import GatewayStore

struct CarePlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "careplan",
        abstract: "Disease templates and each patient's care plan.",
        discussion: """
            A care plan is one or more templates (config/careplans/NAME.yaml) plus overrides. \
            Where two templates set the same threshold the stricter one wins; careplan show says \
            where each effective value comes from.
            """,
        subcommands: [Templates.self, SetPlan.self, Show.self])

    struct Templates: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the templates and their rules.")

        @OptionGroup var global: GlobalOptions

        @Option(help: "table, json or csv.")
        var format: OutputFormat = .table

        func run() throws {
            let library = try global.loadConfig().loadTemplates()
            let listing = Listing(
                columns: ["template", "description", "rules"],
                rows: library.templates.keys.sorted().map { name in
                    let template = library.templates[name]!
                    return [
                        .text(name), .text(template.description),
                        .text(template.rules.map(\.id).joined(separator: " ")),
                    ]
                },
                emptyMessage: "no templates in \(library.directory)")
            print(listing.render(format))
        }
    }

    struct SetPlan: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set",
            abstract: "Set a patient's care plan: templates and overrides (replaces the previous plan).",
            discussion: """
                Keys are RULE.PARAMETER (systolic-high.urgent=175, glucose-stale.after=48h, \
                weight-gain-day.warning=1.5lb) or goal.QUANTITY (goal.systolic=125). A value \
                without a unit is in the unit the template writes the rule in.
                """)

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The patient id.")
        var patient: String

        @Option(name: .customLong("template"), help: "A template name; repeat for several.")
        var templates: [String] = []

        @Option(name: .customLong("set"), help: "An override KEY=VALUE; repeat for several.")
        var overrides: [String] = []

        func run() throws {
            guard !templates.isEmpty else {
                throw CLIError("--template: give at least one", fix: "list them with ccmctl careplan templates")
            }
            let parsed = try overrides.map { text in
                let parts = text.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                    throw CLIError("--set: \"\(text)\" is not KEY=VALUE", fix: "write it like systolic-high.urgent=175")
                }
                return CarePlanOverride(key: parts[0], value: parts[1], by: global.actor)
            }
            let plan: CarePlan
            do {
                plan = try global.loadConfig().loadTemplates().plan(templates: templates, overrides: parsed)
            } catch let error as CarePlanError {
                throw CLIError(error.description)
            }
            let database = try global.open(.existing)
            try database.setCarePlan(patient: patient, templates: templates, overrides: parsed, by: global.actor)
            print(
                "care plan of \(patient): \(plan.templates.joined(separator: " + ")), \(plan.rules.count) rules, \(parsed.count) overrides"
            )
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a patient's effective thresholds and where each comes from.")

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The patient id.")
        var patient: String

        @Option(help: "table, json or csv.")
        var format: OutputFormat = .table

        func run() throws {
            let database = try global.open(.existing)
            guard try database.patient(patient) != nil else {
                throw CLIError("no patient \(patient)", fix: "list patients with ccmctl patients list")
            }
            guard let stored = try database.carePlan(patient) else {
                throw CLIError(
                    "patient \(patient) has no care plan",
                    fix: "set one with ccmctl careplan set \(patient) --template NAME")
            }
            let library = try global.loadConfig().loadTemplates()
            let plan: CarePlan
            do {
                plan = try library.plan(templates: stored.templates, overrides: stored.overrides)
            } catch let error as CarePlanError {
                throw CLIError(error.description)
            }
            let listing = Listing(
                columns: ["key", "value", "from"],
                rows: plan.parameters.map { [.text($0.key), .text($0.value), .text($0.from)] },
                emptyMessage: "the plan has no parameters")
            if format == .table {
                print(
                    "care plan of \(patient): \(stored.templates.joined(separator: " + ")), set by \(stored.updatedBy)")
            }
            print(listing.render(format))
        }
    }
}
