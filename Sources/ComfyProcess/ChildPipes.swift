internal import Foundation

#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// The parent's ends of a started child's pipes, pumped on one dedicated thread: the one `poll(2)` loop body that
/// both `ProcessRunner` (bytes, to completion) and `ProcessExecution` (lines, long-lived) drive.
///
/// Standard output and error are read non-blocking until `EAGAIN` and handed to `onChunk` as they arrive; a stream
/// is closed at end of file or on a hard error. `input` is written to standard input as the pipe accepts it, then
/// the pipe is closed (at once on `EPIPE`: the child stopped reading). The wake descriptor (a `ChildControl` self-pipe)
/// is polled too and emptied, so a cancellation or an exit interrupts the wait. Whatever is still open is closed when
/// the pump is released. Not thread-safe: one thread owns it.
final class ChildPipes {
    private var standardOutput: Int32?
    private var standardError: Int32?
    private var standardInput: Int32?
    private let input: [UInt8]
    private var inputOffset = 0
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
    private let onChunk: (ProcessOutputStream, UnsafeRawBufferPointer) -> Void

    /// The pipes of `child`; `input` is what its standard input gets (ignored without an input pipe).
    init(
        _ child: SpawnedChild, input: [UInt8], onChunk: @escaping (ProcessOutputStream, UnsafeRawBufferPointer) -> Void
    ) {
        standardOutput = child.stdoutFD
        standardError = child.stderrFD
        standardInput = child.stdinFD
        self.input = input
        self.onChunk = onChunk
    }

    deinit {
        buffer.deallocate()
        for fd in [standardOutput, standardError, standardInput] { if let fd { close(fd) } }
    }

    /// True while standard output or standard error is open.
    var outputOpen: Bool { standardOutput != nil || standardError != nil }

    /// Reads what is already in both output pipes, without waiting.
    func drain() {
        read(&standardOutput, .standardOutput)
        read(&standardError, .standardError)
    }

    /// Waits up to `timeout` milliseconds (`-1`: no limit) for `wake` or a pipe, then serves every ready one.
    /// Returns false when `poll` failed for a reason other than `EINTR` (the caller stops pumping).
    func pump(wake: Int32, timeout: Int32) -> Bool {
        var fds: [pollfd] = [pollfd(fd: wake, events: Int16(POLLIN), revents: 0)]
        if let standardOutput { fds.append(pollfd(fd: standardOutput, events: Int16(POLLIN), revents: 0)) }
        if let standardError { fds.append(pollfd(fd: standardError, events: Int16(POLLIN), revents: 0)) }
        if let standardInput { fds.append(pollfd(fd: standardInput, events: Int16(POLLOUT), revents: 0)) }
        let ready = poll(&fds, nfds_t(fds.count), timeout)
        if ready < 0 { return errno == EINTR }
        guard ready > 0 else { return true }
        for entry in fds where entry.revents != 0 {
            if entry.fd == wake {
                var sink = [UInt8](repeating: 0, count: 16)
                _ = Glibc.read(wake, &sink, sink.count)
            } else if entry.fd == standardOutput {
                read(&standardOutput, .standardOutput)
            } else if entry.fd == standardError {
                read(&standardError, .standardError)
            } else if let fd = standardInput, entry.fd == fd {
                feed(fd, revents: entry.revents)
            }
        }
        return true
    }

    private func read(_ fd: inout Int32?, _ stream: ProcessOutputStream) {
        guard let current = fd else { return }
        while true {
            let n = Glibc.read(current, buffer.baseAddress, buffer.count)
            if n > 0 {
                onChunk(stream, UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                continue
            }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
            close(current)  // EOF or a hard error: this stream is done.
            fd = nil
            return
        }
    }

    private func feed(_ fd: Int32, revents: Int16) {
        if inputOffset < input.count {
            let written = input.withUnsafeBytes {
                write(fd, $0.baseAddress! + inputOffset, min(64 * 1024, input.count - inputOffset))
            }
            if written > 0 {
                inputOffset += written
            } else if written < 0 && errno != EAGAIN && errno != EINTR {
                inputOffset = input.count  // EPIPE: the child stopped reading.
            }
        }
        if inputOffset >= input.count || revents & Int16(POLLERR | POLLHUP) != 0 {
            close(fd)
            standardInput = nil
        }
    }
}

/// The one place children are signalled and reaped: both runners go through these, so a process group is always
/// reached the same way and a wait status is decoded once.
enum ChildReaper {
    /// Sends `signal` to the process group `pid` leads (reaching the helpers it started), or to `pid` alone when it
    /// leads none.
    static func signalGroup(_ pid: pid_t, _ signal: Int32) {
        if kill(-pid, signal) != 0 { _ = kill(pid, signal) }
    }

    /// Reaps `pid` if it has exited (`WNOHANG`); `nil` while it runs. A failure other than `EINTR` (the child is not
    /// ours, which should not happen) counts as an exit with status -1.
    static func reapIfExited(_ pid: pid_t) -> ProcessTermination? {
        var status: Int32 = 0
        let reaped = waitpid(pid, &status, WNOHANG)
        if reaped == pid { return decode(status) }
        if reaped < 0 && errno != EINTR { return .exited(-1) }
        return nil
    }

    /// Blocks the calling (dedicated) thread until `pid` exits, and reaps it.
    static func reap(_ pid: pid_t) -> ProcessTermination {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { return .exited(-1) }
        }
        return decode(status)
    }

    /// Blocks the calling (dedicated) thread until `pid` exits, leaving it unreaped (`WNOWAIT`): the pid stays
    /// this process's, so a signal sent before `reap` can never reach a recycled pid.
    static func waitForExit(_ pid: pid_t) {
        var info = siginfo_t()
        while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) < 0 && errno == EINTR {}
    }

    /// A `waitpid` status as an exit code or a signal.
    static func decode(_ status: Int32) -> ProcessTermination {
        let signal = status & 0x7f
        if signal == 0 { return .exited((status >> 8) & 0xff) }
        return .signaled(signal)
    }
}
