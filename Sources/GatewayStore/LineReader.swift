public import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Reads a file handle line by line (LF or CRLF) without holding the whole file: the
/// JSON-lines sources of `ccmctl ingest` and the daemon's file source.
public struct LineReader: Sequence, IteratorProtocol {
    let handle: FileHandle
    private var buffer = Data()
    private var finished = false
    private var chunk = [UInt8](repeating: 0, count: 64 * 1024)

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
            // read(2) returns what has arrived, so lines from a pipe come as they are written
            // (FileHandle.readData(ofLength:) would wait for a full 64 KiB).
            let fd = handle.fileDescriptor
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            if count <= 0 { finished = true } else { buffer.append(contentsOf: chunk[0..<count]) }
        }
    }
}
