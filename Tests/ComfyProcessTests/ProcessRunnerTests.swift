import ComfyProcess
import ComfySupport
import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("ProcessRunner")
struct ProcessRunnerTests {
    @Test("captures standard output and error separately, with the exit status")
    func capturesStreams() async throws {
        let result = try await ProcessRunner.execute(
            ProcessCommand("/bin/sh", ["-c", "echo out; echo err >&2; exit 3"]))
        #expect(result.termination == .exited(3))
        #expect(result.output == "out\n")
        #expect(result.errorOutput == "err\n")
    }

    @Test("run throws ProcessError naming the command and the tail of stderr")
    func nonZeroExitError() async throws {
        let script = "for i in $(seq 1 40); do echo line$i >&2; done; exit 7"
        let error = try await #require(throws: ProcessError.self) {
            try await ProcessRunner.run(ProcessCommand("/bin/sh", ["-c", script]))
        }
        #expect(error.exitStatus == 7)
        #expect(error.isNonZeroExit)
        let text = error.description
        #expect(text.contains("exit status 7"))
        #expect(text.contains("/bin/sh -c"))
        #expect(text.contains("line40"))
        #expect(!text.contains("line20\n"), "only the tail of stderr is kept")
    }

    @Test("secrets never reach the message: URL credentials, explicit secrets, auth headers, token parameters")
    func secretsMasked() async throws {
        let command = ProcessCommand(
            "/bin/sh",
            [
                "-c",
                "echo 'fatal: https://bob:hunter2secret@example.invalid/x.git?token=abcd1234 failed' >&2;"
                    + " echo 'Authorization: Bearer tok-SECRET-9' >&2; echo sk-mysecret-value >&2; exit 1",
                "https://alice:pa55word@example.invalid/repo.git",
            ],
            environment: ["HF_TOKEN": "hf_envsecret_value"], secrets: ["sk-mysecret-value"])
        let error = try await #require(throws: ProcessError.self) { try await ProcessRunner.run(command) }
        let text = error.description
        for secret in ["hunter2secret", "pa55word", "abcd1234", "tok-SECRET-9", "sk-mysecret-value", "hf_envsecret"] {
            #expect(!text.contains(secret), "leaked \(secret) in: \(text)")
        }
        #expect(text.contains("https://***@example.invalid/repo.git"))
        #expect(text.contains("failed"))
    }

    @Test("environment: overrides, removal, and an empty base")
    func environment() async throws {
        setenv("COMFYLOCK_PR_TEST_INHERITED", "yes", 1)
        let inherited = try await ProcessRunner.run(
            ProcessCommand(
                "/bin/sh", ["-c", "echo \"$COMFYLOCK_PR_TEST_INHERITED/$EXTRA\""], environment: ["EXTRA": "x"]))
        #expect(inherited.trimmedOutput == "yes/x")
        let removed = try await ProcessRunner.run(
            ProcessCommand(
                "/bin/sh", ["-c", "echo \"[${COMFYLOCK_PR_TEST_INHERITED:-}]\""],
                removedEnvironment: ["COMFYLOCK_PR_TEST_INHERITED"]))
        #expect(removed.trimmedOutput == "[]")
        let empty = try await ProcessRunner.run(
            ProcessCommand("/usr/bin/env", [], environment: ["ONLY": "1"], inheritEnvironment: false))
        #expect(empty.trimmedOutput == "ONLY=1")
    }

    @Test("bare names are found in the child's PATH; a missing program is a clear error")
    func pathLookup() async throws {
        let result = try await ProcessRunner.run(ProcessCommand("sh", ["-c", "echo hi"]))
        #expect(result.trimmedOutput == "hi")
        let error = try await #require(throws: ProcessError.self) {
            try await ProcessRunner.run(ProcessCommand("comfylock-no-such-program", []))
        }
        #expect(error.isExecutableNotFound)
        #expect(error.description.contains("comfylock-no-such-program not found in PATH"))
    }

    @Test("working directory is applied; a missing one is named")
    func workingDirectory() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let result = try await ProcessRunner.run(ProcessCommand("/bin/pwd", [], workingDirectory: dir.path))
        #expect(result.trimmedOutput == dir.path)
        let missing = dir.appending("nope").path
        let error = try await #require(throws: ProcessError.self) {
            try await ProcessRunner.run(ProcessCommand("/bin/pwd", [], workingDirectory: missing))
        }
        #expect(error.description.contains(missing))
    }

    @Test("large input and output on both streams do not deadlock")
    func largeStreams() async throws {
        let input = [UInt8]((0..<(3 << 19)).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        let result = try await ProcessRunner.run(
            ProcessCommand("/bin/sh", ["-c", "tee /dev/stderr"], standardInput: input))
        // Compare as Bools: a failing #expect on megabyte arrays would spend minutes diffing them.
        #expect(result.standardOutput.count == input.count)
        #expect(result.standardError.count == input.count)
        let sameOut = result.standardOutput == input
        let sameErr = result.standardError == input
        #expect(sameOut)
        #expect(sameErr)
    }

    @Test("standard error keeps its tail when a child writes more than the limit")
    func standardErrorTail() async throws {
        let result = try await ProcessRunner.run(
            ProcessCommand("/bin/sh", ["-c", "head -c 5000000 /dev/zero >&2; echo THE-END >&2"]))
        #expect(result.standardError.count >= ProcessRunner.standardErrorLimit)
        #expect(result.standardError.count <= 2 * ProcessRunner.standardErrorLimit)
        #expect(result.errorOutput.hasSuffix("THE-END\n"))
    }

    @Test("standard input is /dev/null by default")
    func devNullInput() async throws {
        let result = try await ProcessRunner.run(ProcessCommand("/bin/cat", []))
        #expect(result.standardOutput.isEmpty)
    }

    @Test("a timeout stops the child (SIGKILL after the grace period when SIGTERM is ignored)")
    func timeout() async throws {
        let command = ProcessCommand(
            "/bin/sh", ["-c", "trap '' TERM; echo started >&2; while :; do sleep 1; done"], timeout: .milliseconds(300),
            terminationGracePeriod: .milliseconds(300))
        let error = try await #require(throws: ProcessError.self) { try await ProcessRunner.run(command) }
        #expect(error.isTimeout)
        #expect(error.termination == .signaled(SIGKILL))
        #expect(error.description.contains("timed out"))
        #expect(error.description.contains("started"))
    }

    @Test("task cancellation terminates the child and its process group")
    func cancellation() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let pidFile = dir.appending("grandchild.pid").path
        let task = Task {
            try await ProcessRunner.run(
                ProcessCommand("/bin/sh", ["-c", "sleep 300 & echo $! > \(pidFile); wait"]))
        }
        var grandchild: pid_t = 0
        for _ in 0..<600 {
            if let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
                let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))
            {
                grandchild = pid
                break
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(grandchild > 0)
        task.cancel()
        let outcome = await task.result
        #expect(throws: CancellationError.self) { try outcome.get() }
        // The grandchild (same process group) got SIGTERM too: it is gone or a zombie awaiting its reaper.
        var alive = true
        for _ in 0..<200 {
            let state = (try? String(contentsOfFile: "/proc/\(grandchild)/stat", encoding: .utf8))
                .flatMap { $0.split(separator: ")").last?.split(separator: " ").first }
            if state == nil || state == "Z" || state == "X" {
                alive = false
                break
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(!alive)
    }

    @Test("a task cancelled before the start never spawns")
    func cancelledBeforeStart() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let marker = dir.appending("ran").path
        let task = Task {
            try? await Task.sleep(for: .seconds(30))
            return try await ProcessRunner.run(ProcessCommand("/usr/bin/touch", [marker]))
        }
        task.cancel()
        let outcome = await task.result
        #expect(throws: CancellationError.self) { try outcome.get() }
        #expect(!FileManager.default.fileExists(atPath: marker))
    }

    @Test("a signal death is reported as such")
    func signalled() async throws {
        let result = try await ProcessRunner.execute(ProcessCommand("/bin/sh", ["-c", "kill -9 $$"]))
        #expect(result.termination == .signaled(SIGKILL))
        #expect(result.termination.description.contains("SIGKILL"))
    }

    @Test("many concurrent children complete without starving the cooperative pool")
    func concurrent() async throws {
        // 32 children that each sleep 1 s and print when they started and ended. If waiting for a child held a
        // cooperative thread, no more children than cooperative threads (one per core) could run at once. Waited
        // for off the pool, they overlap: more than `cores` of them are alive at the same moment. The overlap is
        // measured from the children's own clocks, so a loaded machine (the whole suite runs in parallel) slows
        // the test without failing it; the time bound only catches a runner that hangs or serializes.
        let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)
        let started = ContinuousClock.now
        let outputs = try await withThrowingTaskGroup(of: String.self) { group in
            for index in 0..<32 {
                group.addTask {
                    try await ProcessRunner.run(
                        ProcessCommand("/bin/sh", ["-c", "date +%s%N; sleep 1; date +%s%N; echo \(index)"])
                    ).trimmedOutput
                }
            }
            var all: [String] = []
            for try await output in group { all.append(output) }
            return all
        }
        let elapsed = ContinuousClock.now - started
        let lines = outputs.map { $0.split(separator: "\n").map(String.init) }
        #expect(Set(lines.compactMap(\.last)) == Set((0..<32).map(String.init)))
        let intervals = lines.compactMap { words -> (Int, Int)? in
            guard words.count == 3, let start = Int(words[0]), let end = Int(words[1]) else { return nil }
            return (start, end)
        }
        try #require(intervals.count == 32)
        let peak = intervals.map { probe in intervals.filter { $0.0 <= probe.0 && probe.0 < $0.1 }.count }.max() ?? 0
        #expect(peak > cores, "at most \(peak) of 32 children ran at once on \(cores) cores: waiting blocks the pool")
        // A hang guard, not a speed claim (overlap is proven above from the children's own clocks): one full-suite run
        // on the loaded 2-core machine took 158 s here.
        #expect(elapsed < .seconds(300), "32 concurrent 1 s children took \(elapsed)")
    }

    @Test("output is streamed to a handler as it arrives")
    func streaming() async throws {
        let seen = LockedText()
        _ = try await ProcessRunner.run(ProcessCommand("/bin/sh", ["-c", "echo a; echo b >&2"])) { stream, bytes in
            seen.append(stream == .standardOutput ? "out:" : "err:", bytes)
        }
        #expect(seen.text.contains("out:a\n"))
        #expect(seen.text.contains("err:b\n"))
    }

    @Test("redaction masks URL user info, auth headers and credential query values")
    func redaction() {
        #expect(Redaction.redact("git@github.com:a/b.git") == "git@github.com:a/b.git")
        #expect(Redaction.redact("https://u:p@h/x") == "https://***@h/x")
        #expect(Redaction.redact("https://h/x?a=1&token=zz&b=2") == "https://h/x?a=1&token=***&b=2")
        #expect(Redaction.redact("Authorization: Bearer x") == "Authorization: ***")
        #expect(Redaction.redact("plain text, no secrets") == "plain text, no secrets")
    }
}

/// Text appended from the runner's output thread.
final class LockedText: @unchecked Sendable {  // Guarded by `lock`.
    private let lock = NSLock()
    private var value = ""
    func append(_ prefix: String, _ bytes: [UInt8]) {
        lock.withLock { value += prefix + String(decoding: bytes, as: UTF8.self) }
    }
    var text: String { lock.withLock { value } }
}
