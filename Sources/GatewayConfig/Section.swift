import GatewayCore
import Yams

/// A YAML mapping with its dotted path, for strict key checks and typed values.
struct Section {
    let mapping: Node.Mapping
    let path: String
    let origin: String

    init(_ node: Node, path: String, origin: String) throws {
        guard let mapping = node.mapping else {
            throw ConfigError(
                "\(origin): \(path.isEmpty ? "the document" : path): expected a mapping of keys to values")
        }
        self.mapping = mapping
        self.path = path
        self.origin = origin
    }

    func key(_ name: String) -> String { path.isEmpty ? name : "\(path).\(name)" }

    /// Unknown keys are errors: a misspelt key would otherwise silently fall back to a default.
    func allow(_ keys: [String]) throws {
        for case let name? in mapping.keys.map(\.string) where !keys.contains(name) {
            throw ConfigError(
                "\(origin): \(key(name)): unknown key",
                fix: "\(path.isEmpty ? "the top level" : path) allows \(keys.joined(separator: ", "))")
        }
    }

    func value(_ name: String) -> Node? {
        guard let node = mapping[Node(name)] else { return nil }
        if case .scalar(let scalar) = node, scalar.string == "~" || scalar.string == "null" || scalar.string.isEmpty {
            return nil
        }
        return node
    }

    func section(_ name: String) throws -> Section? {
        guard let node = value(name) else { return nil }
        return try Section(node, path: key(name), origin: origin)
    }

    func string(_ name: String) throws -> String? {
        guard let node = value(name) else { return nil }
        guard let scalar = node.scalar else { throw ConfigError("\(origin): \(key(name)): expected a single value") }
        return scalar.string
    }

    func int(_ name: String) throws -> Int? {
        guard let text = try string(name) else { return nil }
        guard let number = Int(text) else {
            throw ConfigError("\(origin): \(key(name)): \"\(text)\" is not a whole number")
        }
        return number
    }

    func bool(_ name: String) throws -> Bool? {
        guard let text = try string(name) else { return nil }
        guard let value = ["true": true, "yes": true, "on": true, "false": false, "no": false, "off": false][text]
        else {
            throw ConfigError("\(origin): \(key(name)): \"\(text)\" is not true or false")
        }
        return value
    }

    /// A duration written like `30s`, `5m`, `1h`, in seconds (at least one).
    func duration(_ name: String) throws -> Double? {
        guard let text = try string(name) else { return nil }
        guard let seconds = DurationText.parse(text), seconds >= 1 else {
            throw ConfigError("\(origin): \(key(name)): \"\(text)\" is not a duration", fix: "write it like 30s or 5m")
        }
        return seconds
    }

    /// Each key with its section, in document order, however the key is quoted (`"99490":` and
    /// `99490:` are different nodes to a lookup).
    func sections() throws -> [(key: String, section: Section)] {
        try mapping.compactMap { key, value in
            guard let name = key.string else { return nil }
            return (name, try Section(value, path: self.key(name), origin: origin))
        }
    }

    /// Each key with its single value, in document order, however the key is quoted.
    func scalars() throws -> [(key: String, value: String)] {
        try mapping.compactMap { key, value in
            guard let name = key.string else { return nil }
            guard let scalar = value.scalar else {
                throw ConfigError("\(origin): \(self.key(name)): expected a single value")
            }
            return (name, scalar.string)
        }
    }

    /// The keys present, in document order.
    var keys: [String] { mapping.keys.compactMap(\.string) }

    func double(_ name: String) throws -> Double? {
        guard let text = try string(name) else { return nil }
        guard let number = Double(text), number.isFinite else {
            throw ConfigError("\(origin): \(key(name)): \"\(text)\" is not a number")
        }
        return number
    }

    func list(_ name: String) throws -> [String]? {
        guard let node = value(name) else { return nil }
        if let scalar = node.scalar { return [scalar.string] }
        guard let sequence = node.sequence else { throw ConfigError("\(origin): \(key(name)): expected a list") }
        return try sequence.map { item in
            guard let scalar = item.scalar else {
                throw ConfigError("\(origin): \(key(name)): expected a list of single values")
            }
            return scalar.string
        }
    }
}
