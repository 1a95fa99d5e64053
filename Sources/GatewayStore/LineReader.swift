public import Foundation

/// Reads a file handle line by line (LF or CRLF) without holding the whole file: the
/// JSON-lines sources of `ccmctl ingest` and the daemon's file source.
public struct LineReader: Sequence, IteratorProtocol {
    let handle: FileHandle
    private var buffer = Data()
    private var finished = false

    public init(handle: FileHandle) { self.handle = handle }

    public mutating func next() -> Data? {
        while true {
            if let newline = buffer.firstIndex(of: 0x0A) {
                var line = buffer[buffer.startIndex..<newline]
                if line.last == 0x0D { line = line.dropLast() }
                buffer.removeSubrange(buffer.startIndex...newline)
                return Data(line)
            }
            if finished {
                guard !buffer.isEmpty else { return nil }
                defer { buffer.removeAll() }
                return buffer.last == 0x0D ? Data(buffer.dropLast()) : buffer
            }
            let chunk = handle.readData(ofLength: 64 * 1024)
            if chunk.isEmpty { finished = true } else { buffer.append(chunk) }
        }
    }
}
