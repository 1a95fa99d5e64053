/// The Attribute Protocol as a GATT central needs it (Core Vol 3 Part F; opcodes and error codes
/// as in Bumble's `att.py`; docs/ble.md § "Sources"). Pure: bytes in, values out.
public enum ATT {
    /// The minimum ATT MTU on LE, and the default before an exchange.
    public static let defaultMTU = 23
    /// What this client offers: the largest value an LE bearer carries (512) plus the header.
    public static let clientMTU = 517

    public enum Opcode: UInt8, Sendable {
        case errorResponse = 0x01
        case exchangeMTURequest = 0x02, exchangeMTUResponse = 0x03
        case findInformationRequest = 0x04, findInformationResponse = 0x05
        case findByTypeValueRequest = 0x06, findByTypeValueResponse = 0x07
        case readByTypeRequest = 0x08, readByTypeResponse = 0x09
        case readRequest = 0x0A, readResponse = 0x0B
        case readBlobRequest = 0x0C, readBlobResponse = 0x0D
        case readMultipleRequest = 0x0E, readMultipleResponse = 0x0F
        case readByGroupTypeRequest = 0x10, readByGroupTypeResponse = 0x11
        case writeRequest = 0x12, writeResponse = 0x13
        case prepareWriteRequest = 0x16, prepareWriteResponse = 0x17
        case executeWriteRequest = 0x18, executeWriteResponse = 0x19
        case handleValueNotification = 0x1B
        case handleValueIndication = 0x1D
        case handleValueConfirmation = 0x1E
        case writeCommand = 0x52
        case signedWriteCommand = 0xD2

        /// The response that answers this request, if it is one.
        var response: Opcode? {
            switch self {
            case .exchangeMTURequest: .exchangeMTUResponse
            case .findInformationRequest: .findInformationResponse
            case .findByTypeValueRequest: .findByTypeValueResponse
            case .readByTypeRequest: .readByTypeResponse
            case .readRequest: .readResponse
            case .readBlobRequest: .readBlobResponse
            case .readMultipleRequest: .readMultipleResponse
            case .readByGroupTypeRequest: .readByGroupTypeResponse
            case .writeRequest: .writeResponse
            case .prepareWriteRequest: .prepareWriteResponse
            case .executeWriteRequest: .executeWriteResponse
            default: nil
            }
        }
    }

    /// ATT error codes (Core Vol 3 Part F) and the GLS / CSS application codes a health profile
    /// sends (docs/ble.md, the RACP section).
    public struct ErrorCode: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }

        public static let invalidHandle = ErrorCode(rawValue: 0x01)
        public static let readNotPermitted = ErrorCode(rawValue: 0x02)
        public static let writeNotPermitted = ErrorCode(rawValue: 0x03)
        public static let invalidPDU = ErrorCode(rawValue: 0x04)
        public static let insufficientAuthentication = ErrorCode(rawValue: 0x05)
        public static let requestNotSupported = ErrorCode(rawValue: 0x06)
        public static let insufficientAuthorization = ErrorCode(rawValue: 0x08)
        public static let attributeNotFound = ErrorCode(rawValue: 0x0A)
        public static let insufficientEncryptionKeySize = ErrorCode(rawValue: 0x0C)
        public static let unlikelyError = ErrorCode(rawValue: 0x0E)
        public static let insufficientEncryption = ErrorCode(rawValue: 0x0F)
        /// GLS 1.0 0x80 and CSS 0xFE: a RACP procedure is already running.
        public static let procedureAlreadyInProgress = ErrorCode(rawValue: 0x80)
        /// GLS 1.0 0x81 and CSS 0xFD: a CCCD the procedure needs is not set.
        public static let cccdImproperlyConfigured = ErrorCode(rawValue: 0x81)

        /// Whether raising the link's security level can cure it (docs/ble.md § "A session", step 6).
        public var isSecurity: Bool { self == .insufficientAuthentication || self == .insufficientEncryption }

        public var description: String {
            let name: String =
                switch rawValue {
                case 0x01: "Invalid Handle"
                case 0x02: "Read Not Permitted"
                case 0x03: "Write Not Permitted"
                case 0x04: "Invalid PDU"
                case 0x05: "Insufficient Authentication"
                case 0x06: "Request Not Supported"
                case 0x07: "Invalid Offset"
                case 0x08: "Insufficient Authorization"
                case 0x09: "Prepare Queue Full"
                case 0x0A: "Attribute Not Found"
                case 0x0B: "Attribute Not Long"
                case 0x0C: "Insufficient Encryption Key Size"
                case 0x0D: "Invalid Attribute Value Length"
                case 0x0E: "Unlikely Error"
                case 0x0F: "Insufficient Encryption"
                case 0x10: "Unsupported Group Type"
                case 0x11: "Insufficient Resources"
                case 0x12: "Database Out Of Sync"
                case 0x13: "Value Not Allowed"
                case 0x80, 0xFE: "Procedure Already In Progress"
                case 0x81, 0xFD: "Client Characteristic Configuration Descriptor Improperly Configured"
                case 0xFC: "Write Request Rejected"
                case 0xFF: "Out Of Range"
                case 0x82...0x9F: "application error"
                default: "reserved error"
                }
            return "\(name) (0x\(hex(rawValue)))"
        }
    }

    /// A 16-bit SIG UUID or a full 128-bit one, as ATT carries them (little-endian).
    public enum UUID: Sendable, Hashable, CustomStringConvertible {
        case short(UInt16)
        case long([UInt8])

        public static let primaryService = UUID.short(0x2800)
        public static let characteristic = UUID.short(0x2803)
        public static let clientCharacteristicConfiguration = UUID.short(0x2902)

        init?(bytes: ArraySlice<UInt8>) {
            switch bytes.count {
            case 2: self = .short(UInt16(bytes[bytes.startIndex]) | UInt16(bytes[bytes.startIndex + 1]) << 8)
            case 16: self = .long(Array(bytes))
            default: return nil
            }
        }

        var bytes: [UInt8] {
            switch self {
            case .short(let value): le16(value)
            case .long(let bytes): bytes
            }
        }

        /// `2a35` for SIG UUIDs (as the gateway names characteristics everywhere), the canonical
        /// text form for 128-bit ones.
        public var description: String {
            switch self {
            case .short(let value): String(format4: value)
            case .long(let bytes):
                bytes.reversed().enumerated().map { index, byte in
                    ([4, 6, 8, 10].contains(index) ? "-" : "") + hex(byte).lowercased()
                }.joined()
            }
        }
    }

    /// A PDU as received from the peer: the opcode byte and its parameters.
    public struct PDU: Sendable, Hashable {
        public let opcode: UInt8
        public let parameters: ArraySlice<UInt8>

        public init?(_ bytes: [UInt8]) {
            guard let first = bytes.first else { return nil }
            opcode = first
            parameters = bytes[1...]
        }

        public var known: Opcode? { Opcode(rawValue: opcode) }
    }

    /// What went wrong at the ATT level; every case names the request it concerns.
    public enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        /// The peer answered with an Error Response.
        case error(request: UInt8, handle: UInt16, code: ErrorCode)
        /// No response within the transaction timeout.
        case timeout(request: UInt8, seconds: Double)
        /// A Record Access Control Point procedure (named) did not end within its time-out.
        case procedureTimeout(procedure: String, seconds: Double)
        /// The peer sent something that breaks the protocol.
        case malformed(String)
        /// The bearer closed (the peer disconnected).
        case disconnected
        /// The link could not be made secure enough for the device: pairing or encryption failed.
        case security(String)

        public var description: String {
            switch self {
            case .error(let request, let handle, let code):
                "the device answered request 0x\(hex(request)) on handle 0x\(hex16(handle)) with \(code)"
            case .timeout(let request, let seconds):
                "no answer to request 0x\(hex(request)) within \(formatSeconds(seconds)) s (ATT transaction timeout)"
            case .procedureTimeout(let procedure, let seconds):
                "the meter did not finish the RACP procedure \"\(procedure)\" within \(formatSeconds(seconds)) s (procedure time-out); records received before it are kept"
            case .malformed(let what): "malformed ATT PDU: \(what)"
            case .disconnected: "the device disconnected"
            case .security(let what): "security failure: \(what)"
            }
        }
    }

    // MARK: Requests the client sends

    static func exchangeMTU(_ mtu: Int) -> [UInt8] { [Opcode.exchangeMTURequest.rawValue] + le16(UInt16(mtu)) }

    static func readByGroupType(start: UInt16, end: UInt16, type: UUID) -> [UInt8] {
        [Opcode.readByGroupTypeRequest.rawValue] + le16(start) + le16(end) + type.bytes
    }

    static func readByType(start: UInt16, end: UInt16, type: UUID) -> [UInt8] {
        [Opcode.readByTypeRequest.rawValue] + le16(start) + le16(end) + type.bytes
    }

    static func findInformation(start: UInt16, end: UInt16) -> [UInt8] {
        [Opcode.findInformationRequest.rawValue] + le16(start) + le16(end)
    }

    static func read(_ handle: UInt16) -> [UInt8] { [Opcode.readRequest.rawValue] + le16(handle) }

    static func readBlob(_ handle: UInt16, offset: UInt16) -> [UInt8] {
        [Opcode.readBlobRequest.rawValue] + le16(handle) + le16(offset)
    }

    static func write(_ handle: UInt16, _ value: [UInt8]) -> [UInt8] {
        [Opcode.writeRequest.rawValue] + le16(handle) + value
    }

    static let confirmation: [UInt8] = [Opcode.handleValueConfirmation.rawValue]

    static func errorResponse(request: UInt8, handle: UInt16, code: ErrorCode) -> [UInt8] {
        [Opcode.errorResponse.rawValue, request] + le16(handle) + [code.rawValue]
    }

    // MARK: Responses the client parses

    /// An attribute list entry of a Read By Group Type, Read By Type or Find Information response.
    struct Entry {
        var handle: UInt16
        var value: ArraySlice<UInt8>
    }

    /// Splits a Read By Type / Read By Group Type response (`length`, then entries of that length
    /// each starting with a handle).
    static func entries(_ parameters: ArraySlice<UInt8>, minimum: Int) throws(Failure) -> [Entry] {
        guard let length = parameters.first.map(Int.init), length >= minimum else {
            throw .malformed(
                "attribute data length \(parameters.first.map { "\($0)" } ?? "missing") is below \(minimum)")
        }
        let data = parameters.dropFirst()
        guard !data.isEmpty, data.count % length == 0 else {
            throw .malformed("attribute data of \(data.count) bytes is not a whole number of \(length)-byte entries")
        }
        return stride(from: data.startIndex, to: data.endIndex, by: length).map { start in
            Entry(
                handle: UInt16(data[start]) | UInt16(data[start + 1]) << 8, value: data[(start + 2)..<(start + length)])
        }
    }

    /// Splits a Find Information response: format 1 (16-bit UUIDs) or 2 (128-bit).
    static func information(_ parameters: ArraySlice<UInt8>) throws(Failure) -> [(handle: UInt16, type: UUID)] {
        let uuidLength: Int
        switch parameters.first {
        case 1: uuidLength = 2
        case 2: uuidLength = 16
        default:
            throw .malformed(
                "Find Information format \(parameters.first.map { "\($0)" } ?? "missing") is neither 1 nor 2")
        }
        let data = parameters.dropFirst(), length = 2 + uuidLength
        guard !data.isEmpty, data.count % length == 0 else {
            throw .malformed(
                "Find Information data of \(data.count) bytes is not a whole number of \(length)-byte entries")
        }
        return stride(from: data.startIndex, to: data.endIndex, by: length).map { start in
            (UInt16(data[start]) | UInt16(data[start + 1]) << 8, UUID(bytes: data[(start + 2)..<(start + length)])!)
        }
    }
}

func le16(_ value: UInt16) -> [UInt8] { [UInt8(value & 0xFF), UInt8(value >> 8)] }

func u16(_ bytes: ArraySlice<UInt8>, at offset: Int) -> UInt16? {
    let index = bytes.startIndex + offset
    guard index + 1 < bytes.endIndex else { return nil }
    return UInt16(bytes[index]) | UInt16(bytes[index + 1]) << 8
}

func hex(_ byte: UInt8) -> String {
    let digits = Array("0123456789ABCDEF")
    return String([digits[Int(byte >> 4)], digits[Int(byte & 0xF)]])
}

package func hex16(_ value: UInt16) -> String { hex(UInt8(value >> 8)) + hex(UInt8(value & 0xFF)) }

func formatSeconds(_ seconds: Double) -> String {
    seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)
}

extension String {
    /// Four lowercase hex digits: `2a35`.
    init(format4 value: UInt16) { self = hex16(value).lowercased() }
}

/// Hex text of bytes, `1E 8A 00`, for logs at debug level and error messages.
public func hexString(_ bytes: some Collection<UInt8>) -> String { bytes.map(hex).joined(separator: " ") }
