public import GatewayCore

/// A store failure that says what went wrong and how to fix it.
public struct StoreError: ExplainedError, Sendable {
    public enum Code: String, Sendable {
        case missing, unreadable, notADatabase, locked, newerSchema, notFound, conflict, invalid, io, replaced
    }

    public let code: Code
    public let what: String
    public let fix: String?

    public init(_ code: Code, _ what: String, fix: String? = nil) {
        self.code = code
        self.what = what
        self.fix = fix
    }

    /// The whole text: what, and the fix.
    public var message: String { description }
}
