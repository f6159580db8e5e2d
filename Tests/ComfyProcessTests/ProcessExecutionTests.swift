import ComfyProcess
import Foundation
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("ProcessExecution")
struct ProcessExecutionTests {
    @Test("streams stdout and stderr lines and reports the exit status")
    func linesAndExit() async throws {
        let execution = try await ProcessExecution.start(
            ProcessCommand("/bin/sh", ["-c", "echo one; echo two >&2; printf 'no newline'; exit 4"]))
        #expect(execution.pid > 0)
        var lines: [ProcessOutputLine] = []
        for await line in execution.lines { lines.append(line) }
        #expect(await execution.wait() == .exited(4))
        #expect(lines.contains(ProcessOutputLine(stream: .standardOutput, text: "one")))
        #expect(lines.contains(ProcessOutputLine(stream: .standardError, text: "two")))
        #expect(lines.contains(ProcessOutputLine(stream: .standardOutput, text: "no newline")))
        #expect(execution.termination == .exited(4))
        #expect(!execution.isRunning)
    }

    @Test("onExit fires once the child exits and wait() returns at once afterwards")
    func exitNotification() async throws {
        let execution = try await ProcessExecution.start(ProcessCommand("/bin/sleep", ["1000"]))
        let fired = Mutex<[ProcessTermination]>([])
        execution.onExit { termination in fired.withLock { $0.append(termination) } }
        #expect(fired.withLock { $0.isEmpty }, "the child still runs")
        execution.signal(SIGUSR1)
        let termination = await execution.wait()
        #expect(termination == .signaled(SIGUSR1))
        #expect(fired.withLock { $0 } == [.signaled(SIGUSR1)])
        #expect(await execution.wait() == .signaled(SIGUSR1))
        let late = Mutex<Int>(0)
        execution.onExit { _ in late.withLock { $0 += 1 } }
        #expect(late.withLock { $0 } == 1, "a handler added after the exit runs at once")
    }

    @Test("terminate stops the whole process group, grandchildren included")
    func terminateGroup() async throws {
        let execution = try await ProcessExecution.start(
            ProcessCommand("/bin/sh", ["-c", "sleep 1000 & echo $!; wait"]))
        var iterator = execution.lines.makeAsyncIterator()
        let line = try #require(await iterator.next())
        let grandchild = try #require(Int32(line.text))
        #expect(ProcessLiveness.isAlive(grandchild))
        let termination = await execution.terminate(grace: .seconds(5))
        #expect(termination == .signaled(SIGTERM))
        #expect(await ProcessLiveness.waitUntilGone(grandchild), "the sleep in the child's group must be gone too")
    }

    @Test("a child that ignores SIGTERM gets SIGKILL after the grace period")
    func terminateEscalates() async throws {
        let execution = try await ProcessExecution.start(
            ProcessCommand("/bin/sh", ["-c", "trap '' TERM; echo ready; while :; do sleep 0.05; done"]))
        var iterator = execution.lines.makeAsyncIterator()
        #expect(await iterator.next()?.text == "ready")
        let termination = await execution.terminate(grace: .milliseconds(300))
        #expect(termination == .signaled(SIGKILL))
    }

    @Test("withStarted: cancelling the task terminates and reaps the child")
    func cancellationTerminates() async throws {
        let pid = Mutex<Int32>(0)
        let task = Task {
            try await ProcessExecution.withStarted(ProcessCommand("/bin/sleep", ["1000"]), grace: .seconds(2)) {
                execution in
                pid.withLock { $0 = execution.pid }
                try await Task.sleep(for: .seconds(1000))
            }
        }
        while pid.withLock({ $0 }) == 0 { try await Task.sleep(for: .milliseconds(10)) }
        let child = pid.withLock { $0 }
        #expect(ProcessLiveness.isAlive(child))
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(!ProcessLiveness.isAlive(child), "withStarted returns only after the child is reaped")
        #expect(waitpid(child, nil, WNOHANG) == -1, "no zombie left: the pid is no longer our child")
    }

    @Test("withStarted: returning from the body terminates the child and returns the body's value")
    func scopeEndTerminates() async throws {
        let (value, pid) = try await ProcessExecution.withStarted(ProcessCommand("/bin/sleep", ["1000"])) {
            execution in (42, execution.pid)
        }
        #expect(value == 42)
        #expect(!ProcessLiveness.isAlive(pid))
    }

    @Test("a missing program is a ProcessError, not a crash")
    func missingProgram() async throws {
        let error = try await #require(throws: ProcessError.self) {
            try await ProcessExecution.start(ProcessCommand("comfylock-no-such-program-x"))
        }
        #expect(error.isExecutableNotFound)
    }

    @Test("the line stream is bounded: a reader that is late gets the newest lines")
    func boundedLines() async throws {
        var options = ProcessExecution.Options()
        options.lineBufferLimit = 100
        let execution = try await ProcessExecution.start(
            ProcessCommand("/bin/sh", ["-c", "i=0; while [ $i -lt 5000 ]; do echo line$i; i=$((i+1)); done"]),
            options: options)
        _ = await execution.wait()
        try await Task.sleep(for: .milliseconds(300))
        var lines: [String] = []
        for await line in execution.lines { lines.append(line.text) }
        #expect(lines.count <= 100)
        #expect(lines.last == "line4999")
    }

    @Test("no child survives its parent: SIGKILL the parent, the child is killed by the kernel")
    func parentDeath() async throws {
        try #require(ProcessExecution.parentDeathSignalAvailable, "setpriv (util-linux) is required on Linux")
        let probe = TestPaths.productsDirectory.appendingPathComponent("comfylock-process-probe").path
        // The child is a plain sleep: it does not watch its parent itself.
        for guarded in [true, false] {
            let parent = try await ProcessExecution.start(
                ProcessCommand(probe, (guarded ? [] : ["--no-parent-death"]) + ["/bin/sleep", "1000"]))
            var iterator = parent.lines.makeAsyncIterator()
            var child: Int32?
            while let line = await iterator.next() {
                if line.text.hasPrefix("PID ") {
                    child = Int32(line.text.dropFirst(4))
                    break
                }
            }
            let pid = try #require(child)
            #expect(ProcessLiveness.isAlive(pid))
            parent.signal(SIGKILL)
            _ = await parent.wait()
            if guarded {
                #expect(await ProcessLiveness.waitUntilGone(pid), "the child must die with its parent")
            } else {
                // The control case: without the guarantee the orphan lives on (so the test above can fail).
                try await Task.sleep(for: .milliseconds(300))
                #expect(ProcessLiveness.isAlive(pid))
                kill(pid, SIGKILL)
            }
        }
    }
}
