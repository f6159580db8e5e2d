import ComfyLock
import ComfySupport
import ComfyTransport
import Foundation
import Logging
import Testing

@testable import ComfyHandler

/// The RunPod loop over real HTTP against the loopback RunPod stand-in (the real control plane cannot run here).
@Suite(.serialized) struct RunPodWorkerTests {
    func worker(
        _ standIn: RunPodStandIn, executor: ScriptedExecutor = ScriptedExecutor(), grace: Duration = .seconds(5),
        pingMS: Int = 200
    ) throws -> RunPodWorker {
        let configuration = try #require(try RunPodConfiguration.fromEnvironment(standIn.environment(pingMS: pingMS)))
        return RunPodWorker(
            configuration: configuration, runner: ScriptedExecutor.runner(executor), shutdownGrace: grace,
            postRetry: RetryPolicy(maxAttempts: 3, initialDelay: .milliseconds(50), maxDelay: .milliseconds(100)))
    }

    static func decodeError(_ post: JSONValue?) -> JSONValue? {
        guard let text = post?["body"]?["error"]?.stringValue else { return nil }
        return try? JSONParser.parse(text)
    }

    @Test func servesGoodAndMalformedJobsEachAnsweredOnce() async throws {
        let standIn = try RunPodStandIn()
        defer { standIn.stop() }
        let executor = ScriptedExecutor()
        let worker = try worker(standIn, executor: executor)
        try await standIn.control("/_control/take_fault", ["status": 429])
        try await standIn.control("/_control/take_fault", ["status": 400])
        try await standIn.control("/_control/take_fault", ["status": 200, "body": "not json"])
        try await standIn.control("/_control/take_fault", ["batch": [["input": ["workflow": [:]]]]])
        try await standIn.enqueue([
            ["id": "ok-1", "input": ScriptedExecutor.job([("1", "TestText", ["text": "hello"])])],
            ["id": "bad-notobject", "input": "just a string"],
            ["id": "bad-noinput"],
            ["id": "bad-empty", "input": ["workflow": [:]]],
            ["id": "fail-node", "input": ScriptedExecutor.job([("7", "TestFail", ["message": "boom"])])],
            ["id": "ok-2", "input": ScriptedExecutor.job([("1", "TestText", ["text": "again"])]), "webhook": "x"],
        ])
        let run = Task { await worker.run() }
        let log = try await standIn.waitFor { ($0["results"]?.objectValue?.count ?? 0) >= 6 }
        worker.shutdown()
        await run.value

        let results = try #require(log["results"]?.objectValue)
        #expect(Set(results.keys) == ["ok-1", "bad-notobject", "bad-noinput", "bad-empty", "fail-node", "ok-2"])
        for (id, posts) in results { #expect(posts.arrayValue?.count == 1, "job \(id) answered once") }
        let ok = results["ok-1"]?.arrayValue?.first
        #expect(ok?["is_stream"] == "false")
        let output = ok?["body"]?["output"]
        #expect(output?["outputs"]?.arrayValue?.first?["text"] == "hello")
        #expect(output?["lock_digest"] == .string(String(repeating: "a", count: 64)))
        #expect(output?["environment"]?["handler_version"] == .string(ComfyLockVersion.current))
        #expect(output?["prompt_id"] == "prompt-ok-1")
        #expect(Self.decodeError(results["bad-notobject"]?.arrayValue?.first)?["error"] == "validation")
        #expect(
            Self.decodeError(results["bad-noinput"]?.arrayValue?.first)?["details"]?.arrayValue?.first?["path"]
                == "input")
        #expect(
            Self.decodeError(results["bad-empty"]?.arrayValue?.first)?["details"]?.arrayValue?.first?["path"]
                == "input.workflow")
        let nodeError = Self.decodeError(results["fail-node"]?.arrayValue?.first)
        #expect(nodeError?["error"] == "execution")
        #expect(nodeError?["node_id"] == "7")
        #expect(nodeError?["class_type"] == "TestFail")
        #expect(log["unauthorized"] == 0)
        let takes = log["takes"]?.arrayValue ?? []
        #expect(takes.allSatisfy { $0["worker"] == "pod-test" && $0["query"]?["gpu"] == "TEST" })
        #expect(takes.allSatisfy { $0["job_in_progress"] == "0" })
        #expect(executor.log.withLock { $0.finished } == ["ok-1", "ok-2"])
        #expect(worker.counters.posted == 6)
    }

    @Test func heartbeatsCarryTheRunningJobAndAreNotStarved() async throws {
        let standIn = try RunPodStandIn()
        defer { standIn.stop() }
        let worker = try worker(standIn, pingMS: 200)
        // A 6 s job: a heartbeat starved by the running job would leave a gap of about 6 s. The bound below (3 s)
        // tolerates a loaded 2-core machine; the jitter itself (milliseconds) is measured by scripts/bench/handler.sh.
        try await standIn.enqueue([
            ["id": "long-1", "input": ScriptedExecutor.job([("1", "TestSleep", ["seconds": 6])])]
        ])
        let run = Task { await worker.run() }
        let log = try await standIn.waitFor { ($0["results"]?["long-1"]?.arrayValue?.count ?? 0) >= 1 }
        try await Task.sleep(for: .milliseconds(500))
        worker.shutdown()
        await run.value
        let pings = try await standIn.log()["pings"]?.arrayValue ?? []
        let during = pings.filter { $0["job_id"] == "long-1" }
        #expect(during.count >= 10, "pings while the 6 s job ran: \(during.count)")
        #expect(pings.contains { $0["job_id"] == "" }, "idle pings omit job_id")
        #expect(pings.allSatisfy { $0["runpod_version"] == "1.12.0" && $0["worker"] == "pod-test" })
        let times = during.compactMap { $0["t"]?.numberValue }
        let gaps = zip(times.dropFirst(), times).map { $0 - $1 }
        #expect((gaps.max() ?? 0) < 3.0, "no heartbeat gap ≥ 3 s while the job ran: \(gaps)")
        // Progress went out before the result, never after.
        let progress = log["progress"]?["long-1"]?.arrayValue ?? []
        #expect(!progress.isEmpty)
        let resultTime = log["results"]?["long-1"]?.arrayValue?.first?["t"]?.numberValue ?? 0
        #expect(progress.allSatisfy { ($0["t"]?.numberValue ?? 99) <= resultTime })
        #expect(try await standIn.log()["late"]?.arrayValue?.isEmpty == true)
    }

    @Test func stoppedJobIsInterruptedNothingPostedAndTheLoopGoesOn() async throws {
        let standIn = try RunPodStandIn()
        defer { standIn.stop() }
        let executor = ScriptedExecutor()
        let worker = try worker(standIn, executor: executor)
        try await standIn.enqueue([
            ["id": "stop-me", "input": ScriptedExecutor.job([("1", "TestSleep", ["seconds": 20])])],
            ["id": "after", "input": ScriptedExecutor.job([("1", "TestText", ["text": "still here"])])],
        ])
        let run = Task { await worker.run() }
        _ = try await standIn.waitFor { log in
            (log["pings"]?.arrayValue ?? []).contains { $0["job_id"] == "stop-me" }
        }
        try await standIn.control("/_control/stop", ["ids": ["stop-me"]])
        let log = try await standIn.waitFor { ($0["results"]?["after"]?.arrayValue?.count ?? 0) >= 1 }
        worker.shutdown()
        await run.value
        #expect(log["results"]?["stop-me"] == nil)
        #expect(log["results"]?["after"]?.arrayValue?.count == 1)
        #expect(executor.log.withLock { $0.interrupted } == ["stop-me"])
        #expect(worker.counters.stopped == 1)
    }

    @Test func resultPostIsRetriedThreeTimes() async throws {
        let standIn = try RunPodStandIn()
        defer { standIn.stop() }
        let worker = try worker(standIn)
        try await standIn.control("/_control/post_fault", ["status": 500, "times": 2])
        try await standIn.enqueue([
            ["id": "retry-1", "input": ScriptedExecutor.job([("1", "TestText", ["text": "x"])])]
        ])
        let run = Task { await worker.run() }
        var log = try await standIn.waitFor { ($0["results"]?["retry-1"]?.arrayValue?.count ?? 0) >= 1 }
        #expect(log["failed_posts"] == ["retry-1", "retry-1"])
        #expect(log["results"]?["retry-1"]?.arrayValue?.count == 1)

        try await standIn.control("/_control/post_fault", ["status": 503, "times": 3])
        try await standIn.enqueue([["id": "lost-1", "input": ScriptedExecutor.job([("1", "TestText", ["text": "x"])])]])
        try await standIn.enqueue([["id": "next-1", "input": ScriptedExecutor.job([("1", "TestText", ["text": "y"])])]])
        log = try await standIn.waitFor { ($0["results"]?["next-1"]?.arrayValue?.count ?? 0) >= 1 }
        worker.shutdown()
        await run.value
        #expect(log["failed_posts"]?.arrayValue?.filter { $0 == "lost-1" }.count == 3)
        #expect(worker.counters.postFailures == 1)
        #expect(log["results"]?["next-1"]?.arrayValue?.count == 1, "a lost post does not stop the loop")
    }

    @Test func outOfMemoryAsksForReplacementAndExits() async throws {
        let standIn = try RunPodStandIn()
        defer { standIn.stop() }
        let worker = try worker(standIn)
        try await standIn.enqueue([
            ["id": "oom-1", "input": ScriptedExecutor.job([("1", "TestOOM", [:])])],
            ["id": "never", "input": ScriptedExecutor.job([("1", "TestText", ["text": "x"])])],
        ])
        await worker.run()  // returns by itself
        let log = try await standIn.log()
        let post = log["results"]?["oom-1"]?.arrayValue?.first
        #expect(post?["body"]?["stopPod"] == true)
        #expect(Self.decodeError(post)?["error"] == "out_of_memory")
        #expect(log["results"]?["never"] == nil)
        #expect(log["queued"] == 1)
    }

    @Test func shutdownMidJobFinishesWithinGraceAndPosts() async throws {
        let standIn = try RunPodStandIn()
        defer { standIn.stop() }
        let worker = try worker(standIn, grace: .seconds(10))
        try await standIn.enqueue([
            [
                "id": "finish-me",
                "input": ScriptedExecutor.job([("1", "TestSleep", ["seconds": 1]), ("2", "TestText", ["text": "done"])]
                ),
            ]
        ])
        let run = Task { await worker.run() }
        _ = try await standIn.waitFor { ($0["pings"]?.arrayValue ?? []).contains { $0["job_id"] == "finish-me" } }
        worker.shutdown()
        await run.value
        let log = try await standIn.log()
        let answer = log["results"]?["finish-me"]?.arrayValue?.first?["body"]
        if answer?["output"] == nil {
            try? Data(CanonicalJSON.encode(log)).write(to: URL(fileURLWithPath: "/tmp/handler-flaky.json"))
        }
        #expect(answer?["output"]?["outputs"]?.arrayValue?.first?["text"] == "done", "\(String(describing: answer))")
        let takesAfter = (log["takes"]?.arrayValue ?? []).count
        #expect(takesAfter == worker.counters.takes)
    }

    @Test func shutdownGraceOverInterruptsAndAnswersRetryable() async throws {
        let standIn = try RunPodStandIn()
        defer { standIn.stop() }
        let executor = ScriptedExecutor()
        let worker = try worker(standIn, executor: executor, grace: .milliseconds(300))
        try await standIn.enqueue([
            ["id": "cut-me", "input": ScriptedExecutor.job([("1", "TestSleep", ["seconds": 30])])]
        ])
        let run = Task { await worker.run() }
        _ = try await standIn.waitFor { ($0["pings"]?.arrayValue ?? []).contains { $0["job_id"] == "cut-me" } }
        let started = ContinuousClock.now
        worker.shutdown()
        await run.value
        #expect(ContinuousClock.now - started < .seconds(5))
        let log = try await standIn.log()
        let error = Self.decodeError(log["results"]?["cut-me"]?.arrayValue?.first)
        #expect(error?["error"] == "interrupted")
        #expect(error?["retryable"] == true)
        #expect(executor.log.withLock { $0.interrupted } == ["cut-me"])
    }

    @Test func wrongKeyIsVisibleToThePlatform() async throws {
        let standIn = try RunPodStandIn()
        defer { standIn.stop() }
        var environment = standIn.environment()
        environment["RUNPOD_AI_API_KEY"] = "wrong-key"
        let configuration = try #require(try RunPodConfiguration.fromEnvironment(environment))
        let worker = RunPodWorker(configuration: configuration, runner: ScriptedExecutor.runner())
        let run = Task { await worker.run() }
        let log = try await standIn.waitFor { ($0["unauthorized"]?.numberValue ?? 0) >= 2 }
        worker.shutdown()
        await run.value
        #expect((log["unauthorized"]?.numberValue ?? 0) >= 2)
    }
}
