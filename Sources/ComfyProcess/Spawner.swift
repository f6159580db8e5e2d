internal import Foundation

#if canImport(Glibc)
    internal import Glibc
#endif

/// `posix_spawn` with pipes, a working directory, a clean signal state and its own process group.
enum Spawner {
    private typealias AddChdir =
        @convention(c) (
            UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>
        ) -> Int32
    private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32

    // glibc ≥ 2.29 / 2.34 export these, but the Swift Glibc module hides them (they need _GNU_SOURCE).
    private static let addChdir: AddChdir? = {
        guard let symbol = dlsym(dlopen(nil, RTLD_NOW), "posix_spawn_file_actions_addchdir_np") else { return nil }
        return unsafeBitCast(symbol, to: AddChdir.self)
    }()
    private static let addCloseFrom: AddCloseFrom? = {
        guard let symbol = dlsym(dlopen(nil, RTLD_NOW), "posix_spawn_file_actions_addclosefrom_np") else {
            return nil
        }
        return unsafeBitCast(symbol, to: AddCloseFrom.self)
    }()

    private typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32
    private static let pipe2Function: Pipe2? = {
        guard let symbol = dlsym(dlopen(nil, RTLD_NOW), "pipe2") else { return nil }
        return unsafeBitCast(symbol, to: Pipe2.self)
    }()

    /// A close-on-exec pipe (atomically with `pipe2` where available), optionally non-blocking on both ends.
    static func makePipe(nonBlocking: Bool = false) -> (read: Int32, write: Int32)? {
        var fds: [Int32] = [-1, -1]
        if let pipe2Function {
            guard pipe2Function(&fds, O_CLOEXEC | (nonBlocking ? O_NONBLOCK : 0)) == 0 else { return nil }
            return (fds[0], fds[1])
        }
        guard pipe(&fds) == 0 else { return nil }
        for fd in fds {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            if nonBlocking { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        }
        return (fds[0], fds[1])
    }

    /// The environment the child gets.
    static func environment(for command: ProcessCommand) -> [String: String] {
        var env = command.inheritEnvironment ? ProcessInfo.processInfo.environment : [:]
        for name in command.removedEnvironment { env.removeValue(forKey: name) }
        env.merge(command.environment) { $1 }
        return env
    }

    /// The absolute path of the program, searched in the child's `PATH` for a bare name.
    static func resolve(_ command: ProcessCommand, environment: [String: String]) throws(ProcessError) -> String {
        let name = command.executable
        if name.contains("/") {
            let path =
                name.hasPrefix("/") ? name : FileManager.default.currentDirectoryPath + "/" + name
            guard access(path, X_OK) == 0 else { throw .executableNotFound(command: command, searched: []) }
            return path
        }
        let searched = (environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":").map(String.init)
        for dir in searched where !dir.isEmpty {
            let candidate = dir + "/" + name
            var info = stat()
            if stat(candidate, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG && access(candidate, X_OK) == 0 {
                return candidate
            }
        }
        throw .executableNotFound(command: command, searched: searched)
    }

    /// util-linux `setpriv`: sets the parent-death signal, then `execve`s the program (same pid; not a shell).
    static let setprivPath = "/usr/bin/setpriv"

    /// Starts `command`. With `parentDeathSignal` the program is exec'd through `setpriv --pdeathsig KILL`, so the
    /// kernel kills it when the spawning thread (and so this process) dies.
    static func spawn(
        _ command: ProcessCommand, parentDeathSignal: Bool = false
    ) throws(ProcessError)
        -> SpawnedChild
    {
        let env = environment(for: command)
        let resolved = try resolve(command, environment: env)
        let path = parentDeathSignal ? setprivPath : resolved
        let leading = parentDeathSignal ? [setprivPath, "--pdeathsig", "KILL", "--", resolved] : [resolved]
        if let dir = command.workingDirectory {
            var info = stat()
            guard stat(dir, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
                throw .workingDirectoryMissing(command: command, path: dir)
            }
        }

        func makePipe() throws(ProcessError) -> (read: Int32, write: Int32) {
            guard let fds = Spawner.makePipe() else {
                throw .spawnFailed(command: command, errno: errno, reason: "pipe: \(String(cString: strerror(errno)))")
            }
            return fds
        }
        let out = try makePipe()
        let err = try makePipe()
        let input: (read: Int32, write: Int32)? = command.standardInput != nil ? try makePipe() : nil
        var parentEnds = [out.read, err.read]
        var childEnds = [out.write, err.write]
        if let input {
            parentEnds.append(input.write)
            childEnds.append(input.read)
        }
        var spawned = false
        defer {
            for fd in childEnds { close(fd) }
            if !spawned { for fd in parentEnds { close(fd) } }
        }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let input {
            posix_spawn_file_actions_adddup2(&actions, input.read, 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_adddup2(&actions, out.write, 1)
        posix_spawn_file_actions_adddup2(&actions, err.write, 2)
        if let addCloseFrom { _ = addCloseFrom(&actions, 3) }
        if let dir = command.workingDirectory {
            guard let addChdir else {
                throw .spawnFailed(command: command, errno: ENOSYS, reason: "posix_spawn cannot change directory here")
            }
            _ = addChdir(&actions, dir)
        }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGCHLD, SIGUSR1, SIGUSR2, SIGALRM] {
            sigaddset(&defaults, signal)
        }
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setsigmask(&attributes, &mask)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let argv = (leading + command.arguments).map { strdup($0) } + [nil]
        let envp = env.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        guard rc == 0 else {
            throw .spawnFailed(command: command, errno: rc, reason: String(cString: strerror(rc)))
        }
        spawned = true
        let started = ContinuousClock().now
        for fd in parentEnds { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        return SpawnedChild(
            pid: pid, stdoutFD: out.read, stderrFD: err.read, stdinFD: input?.write, started: started)
    }
}
