public import Foundation
public import GatewayCore

#if canImport(Glibc)
import Glibc
#endif

/// One line of a JSON-lines input. A line longer than the reader's limit keeps only its first
/// `limit` bytes: ``length`` says how long it was.
public struct InputLine: Sendable {
    /// The line without its LF or CRLF; for an overlong line, its first bytes only.
    public var bytes: Data
    /// The whole line's length in bytes (without the line end).
    public var length: Int

    /// Whether ``bytes`` holds only the start of the line.
    public var isTruncated: Bool { length > bytes.count }

    /// Whether the line holds anything but spaces, tabs and carriage returns (for an overlong
    /// line: yes).
    public var isBlank: Bool {
        !isTruncated && !bytes.contains(where: { !($0 == 0x20 || $0 == 0x09 || $0 == 0x0D) })
    }

    /// The input the line is, as received by a source: an overlong line is kept as its first
    /// bytes with its length, and rejected by the pipeline as too large.
    public func rawInput(source: String, hubID: String? = nil) -> RawInput {
        RawInput(source: source, hubID: hubID, payload: bytes, payloadSize: isTruncated ? length : nil)
    }
}

/// Reads a file handle line by line (LF or CRLF) without holding the whole file: the
/// JSON-lines sources of `ccmctl ingest` and the daemon's file source.
///
/// Linear in the input: each byte is looked at once (a new chunk is searched for the line end
/// from where the last search stopped). A line longer than `maxLineBytes` is not held whole:
/// its first `maxLineBytes` bytes are kept, the rest is counted and dropped up to its line end.
public struct LineReader: Sequence, IteratorProtocol {
    let handle: FileHandle
    let maxLineBytes: Int
    /// Bytes read but not yet returned; `start` is where the current line begins.
    private var buffer: [UInt8] = []
    private var start = 0
    /// Where the search for the next line end resumes.
    private var scanned = 0
    /// Bytes of the current line dropped past the limit (the line is overlong when > 0).
    private var dropped = 0
    private var finished = false
    private var chunk = [UInt8](repeating: 0, count: 64 * 1024)

    /// `maxLineBytes`: the most of one line held in memory (`ingest.max_payload_bytes`).
    public init(handle: FileHandle, maxLineBytes: Int = .max) {
        self.handle = handle
        self.maxLineBytes = Swift.max(1, maxLineBytes)
    }

    public mutating func next() -> InputLine? {
        while true {
            if let newline = lineEnd() {
                let line = take(upTo: newline)
                start = newline + 1
                scanned = start
                compact()
                return line
            }
            scanned = buffer.count
            if finished {
                guard start < buffer.count || dropped > 0 else { return nil }
                let line = take(upTo: buffer.count)
                start = buffer.count
                scanned = start
                compact()
                return line
            }
            // Past the limit: keep the first maxLineBytes bytes of the line, count the rest.
            if buffer.count - start > maxLineBytes {
                dropped += buffer.count - start - maxLineBytes
                buffer.removeSubrange((start + maxLineBytes)...)
                scanned = buffer.count
            }
            // read(2) returns what has arrived, so lines from a pipe come as they are written
            // (FileHandle.readData(ofLength:) would wait for a full 64 KiB).
            let fd = handle.fileDescriptor
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            if count <= 0 {
                finished = true
            } else {
                chunk.withUnsafeBufferPointer {
                    buffer.append(contentsOf: UnsafeBufferPointer(rebasing: $0[0..<count]))
                }
            }
        }
    }

    /// The index of the next LF at or after `scanned` (memchr: fast in debug builds too).
    private func lineEnd() -> Int? {
        guard scanned < buffer.count else { return nil }
        return buffer.withUnsafeBytes { raw -> Int? in
            guard let found = memchr(raw.baseAddress! + scanned, 0x0A, raw.count - scanned) else { return nil }
            return raw.baseAddress!.distance(to: UnsafeRawPointer(found))
        }
    }

    /// The line from `start` to `end` (exclusive), without a final CR, at most `maxLineBytes`
    /// bytes of it; resets the count of dropped bytes.
    private mutating func take(upTo end: Int) -> InputLine {
        var length = end - start + dropped
        var kept = Swift.min(end - start, maxLineBytes)
        if end > start, buffer[end - 1] == 0x0D, dropped == 0, kept == end - start {
            length -= 1
            kept -= 1
        } else if end > start, buffer[end - 1] == 0x0D {
            length -= 1
        }
        dropped = 0
        return InputLine(bytes: Data(buffer[start..<start + kept]), length: length)
    }

    /// Drops returned lines from the front once they are most of the buffer, so memory stays
    /// bounded and moving bytes costs amortized O(1) per byte.
    private mutating func compact() {
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
            scanned = 0
        } else if start > 64 * 1024, start * 2 > buffer.count {
            buffer.removeSubrange(0..<start)
            scanned -= start
            start = 0
        }
    }
}
