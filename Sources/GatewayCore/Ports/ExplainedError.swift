/// The one shape of every error the gateway shows a person (docs/logging.md): what went wrong,
/// naming the field, file, setting or device it is about; and the fix, when the reader can do
/// something about it. Its text is `what; fix`, or `what` alone: never an empty part.
public protocol ExplainedError: Error, CustomStringConvertible {
    /// What went wrong, and where.
    var what: String { get }
    /// What to do about it, if anything helps.
    var fix: String? { get }
}

extension ExplainedError {
    public var description: String {
        guard let fix, !fix.isEmpty else { return what }
        return "\(what); \(fix)"
    }
}

/// An error that is its explanation and nothing more. `Domain` only tells the kinds apart, so a
/// caller can catch configuration mistakes apart from care-plan ones:
/// `typealias ConfigError = Explanation<ConfigMistake>`.
public struct Explanation<Domain>: ExplainedError, Sendable, Hashable {
    public let what: String
    public let fix: String?

    public init(_ what: String, fix: String? = nil) {
        self.what = what
        self.fix = fix
    }

    /// Two explanations are the same when they read the same.
    public static func == (a: Self, b: Self) -> Bool { a.description == b.description }
    public func hash(into hasher: inout Hasher) { hasher.combine(description) }
}
