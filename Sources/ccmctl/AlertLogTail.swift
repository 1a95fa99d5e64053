import Foundation
import GatewayCore

#if canImport(Glibc)
import Glibc
#endif

/// `alerts tail`: the last lines of the alert log, then (with follow) new lines as they are
/// appended. When logrotate renames the file, the rest of the old file is read, then the new
/// file from its start; a truncated file is read again from its start.
struct AlertLogTail {
    let path: String
    let format: AlertLogFormat
    /// How often to look for new lines when following.
    var interval: useconds_t = 200_000

    func run(last count: Int, follow: Bool) throws {
        var fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            guard follow, errno == ENOENT else {
                throw CLIError(
                    "cannot read the alert log \(path): \(String(cString: strerror(errno)))",
                    fix: "check alerts.log in the configuration")
            }
        }
        var pending = Data()
        if fd >= 0 {
            let all = readAll(fd)
            let lines = all.split(separator: 0x0A, omittingEmptySubsequences: true)
            for line in lines.suffix(max(count, 0)) { emit(Data(line)) }
            if let last = all.last, last != 0x0A, let tail = lines.last { pending = Data(tail) }
        }
        guard follow else { return }
        while true {
            if fd >= 0 {
                pending.append(readAll(fd))
                while let newline = pending.firstIndex(of: 0x0A) {
                    emit(Data(pending[pending.startIndex..<newline]))
                    pending.removeSubrange(pending.startIndex...newline)
                }
            }
            // Rotated (another file at the path) or truncated: start over on the path.
            var onDisk = stat()
            var open_ = stat()
            let pathExists = stat(path, &onDisk) == 0
            if fd >= 0, fstat(fd, &open_) == 0 {
                if pathExists, onDisk.st_ino != open_.st_ino || onDisk.st_dev != open_.st_dev {
                    pending.append(readAll(fd))
                    close(fd)
                    fd = open(path, O_RDONLY | O_CLOEXEC)
                    continue
                }
                if lseek(fd, 0, SEEK_CUR) > open_.st_size { lseek(fd, 0, SEEK_SET) }
            } else if pathExists {
                fd = open(path, O_RDONLY | O_CLOEXEC)
                continue
            }
            usleep(interval)
        }
    }

    private func readAll(_ fd: Int32) -> Data {
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = read(fd, &buffer, buffer.count)
            guard count > 0 else { break }
            data.append(contentsOf: buffer[0..<count])
        }
        return data
    }

    private func emit(_ line: Data) {
        let text = String(decoding: line, as: UTF8.self)
        guard !text.isEmpty else { return }
        // Lines this version cannot read are shown as they are, never dropped.
        let shown = AlertLogFormat.parse(text).map(format.line) ?? text
        // Unbuffered, so a pipe reader sees each line as it comes.
        FileHandle.standardOutput.write(Data((shown + "\n").utf8))
    }
}
