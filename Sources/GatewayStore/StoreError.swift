/// A store failure that says what went wrong and how to fix it.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case missing, unreadable, notADatabase, locked, newerSchema, notFound, conflict, invalid, io, replaced
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
