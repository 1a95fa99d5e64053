#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// A key that appears twice in one JSON object, and where.
///
/// Foundation's decoders keep one of the two silently, so `"systolic":130,"systolic":250`
/// would store one value while a hub's own validator (keeping the other) saw different data.
/// Every JSON input is therefore checked: a repeated key rejects the payload, naming the key.
public struct DuplicateJSONKey: Error, Sendable, Hashable {
    /// The key as decoded (escapes resolved).
    public let key: String
    /// Its field path, as rejections name fields: `values.systolic`, `[1].device`,
    /// `entry[0].resource.id`.
    public let path: String

    /// The rejection every format gives for it.
    public var rejection: Rejection {
        Rejection(
            .duplicateKey, field: path,
            "duplicate key \"\(key)\": a JSON object names each field once; remove one of them (the gateway does not guess which one is meant)"
        )
    }
}

/// Finds the first repeated key in a JSON text, in one pass over its bytes (linear in its
/// length, however deep it nests). Meant to run on text a JSON parser has accepted; on anything
/// else it returns without crashing, but what it finds there means nothing.
public enum JSONDuplicateKeys {
    private enum Frame {
        case object(keys: Set<String>, current: String?, expectingKey: Bool)
        case array(index: Int)
    }

    public static func first(in data: Data) -> DuplicateJSONKey? {
        data.withUnsafeBytes { raw in first(in: raw.bindMemory(to: UInt8.self)) }
    }

    static func first(in b: UnsafeBufferPointer<UInt8>) -> DuplicateJSONKey? {
        var stack: [Frame] = []
        var i = 0
        let n = b.count
        while i < n {
            switch b[i] {
            case UInt8(ascii: "{"):
                stack.append(.object(keys: [], current: nil, expectingKey: true))
                i += 1
            case UInt8(ascii: "["):
                stack.append(.array(index: 0))
                i += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                _ = stack.popLast()
                i += 1
            case UInt8(ascii: ","):
                switch stack.last {
                case .object(let keys, let current, _)?:
                    stack[stack.count - 1] = .object(keys: keys, current: current, expectingKey: true)
                case .array(let index)?: stack[stack.count - 1] = .array(index: index + 1)
                case nil: break
                }
                i += 1
            case UInt8(ascii: "\""):
                let (text, end) = string(b, from: i + 1)
                i = end
                guard case .object(var keys, _, true)? = stack.last else { continue }
                // Empty the frame while its set is edited, so the set is not copied.
                stack[stack.count - 1] = .array(index: 0)
                guard keys.insert(text).inserted else {
                    stack[stack.count - 1] = .object(keys: keys, current: text, expectingKey: false)
                    return DuplicateJSONKey(key: text, path: path(stack))
                }
                stack[stack.count - 1] = .object(keys: keys, current: text, expectingKey: false)
            default:
                i += 1
            }
        }
        return nil
    }

    /// The field path of the innermost frame's current key.
    private static func path(_ stack: [Frame]) -> String {
        var path = ""
        for frame in stack {
            switch frame {
            case .object(_, let current, _):
                guard let current else { continue }
                path += path.isEmpty ? current : "." + current
            case .array(let index):
                path += "[\(index)]"
            }
        }
        return path
    }

    /// The string starting after the opening quote at `start`, decoded, and the index after its
    /// closing quote.
    private static func string(_ b: UnsafeBufferPointer<UInt8>, from start: Int) -> (String, Int) {
        var i = start
        var escaped = false
        while i < b.count, b[i] != UInt8(ascii: "\"") {
            if b[i] == UInt8(ascii: "\\") {
                escaped = true
                i += 1
            }
            i += 1
        }
        let end = min(i, b.count)
        let next = min(i + 1, b.count)
        guard escaped else {
            return (String(decoding: UnsafeBufferPointer(rebasing: b[start..<end]), as: UTF8.self), next)
        }
        var scalars = String.UnicodeScalarView()
        var bytes: [UInt8] = []
        func flush() {
            if !bytes.isEmpty {
                scalars.append(contentsOf: String(decoding: bytes, as: UTF8.self).unicodeScalars)
                bytes.removeAll(keepingCapacity: true)
            }
        }
        var j = start
        var pendingHigh: UInt32?
        while j < end {
            let c = b[j]
            guard c == UInt8(ascii: "\\"), j + 1 < end else {
                bytes.append(c)
                j += 1
                continue
            }
            flush()
            let e = b[j + 1]
            j += 2
            var scalar: UInt32
            switch e {
            case UInt8(ascii: "b"): scalar = 0x08
            case UInt8(ascii: "f"): scalar = 0x0C
            case UInt8(ascii: "n"): scalar = 0x0A
            case UInt8(ascii: "r"): scalar = 0x0D
            case UInt8(ascii: "t"): scalar = 0x09
            case UInt8(ascii: "u"):
                var value: UInt32 = 0
                var digits = 0
                while digits < 4, j < end, let digit = hexValue(b[j]) {
                    value = value * 16 + digit
                    digits += 1
                    j += 1
                }
                scalar = value
            default: scalar = UInt32(e)
            }
            if (0xD800...0xDBFF).contains(scalar) {
                pendingHigh = scalar
                continue
            }
            if (0xDC00...0xDFFF).contains(scalar), let high = pendingHigh {
                scalar = 0x10000 + ((high - 0xD800) << 10) + (scalar - 0xDC00)
            }
            pendingHigh = nil
            scalars.append(Unicode.Scalar(scalar) ?? "\u{FFFD}")
        }
        flush()
        return (String(scalars), next)
    }

    private static func hexValue(_ c: UInt8) -> UInt32? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(c - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(c - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(c - UInt8(ascii: "A") + 10)
        default: nil
        }
    }
}
