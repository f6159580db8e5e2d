import ComfyLock
import Foundation
import Testing

@testable import ComfyHandler

/// The job lifecycle and the RunPod loop decisions, as plain values (no server).
@Suite struct JobLifecycleTests {
    static let output = JobOutput(
        outputs: [], promptID: "p", lockDigest: "d", environment: EnvironmentIdentity(), timings: JobTimings())
    static let failure = JobFailure(kind: .execution, message: "node 3 raised", nodeID: "3")

    @Test func happyPath() {
        var job = JobLifecycle()
        #expect(job.state == .queued)
        #expect(job.start() == .execute)
        #expect(job.promptQueued("p1") == .none)
        #expect(job.state == .running(promptID: "p1"))
        #expect(job.progress() == .sendProgress)
        #expect(job.executionSucceeded() == .deliver)
        #expect(job.progress() == .none)
        #expect(job.delivered(Self.output) == .answer(.completed(Self.output)))
        #expect(job.state == .done)
        #expect(job.isFinished)
    }

    @Test func answeredExactlyOnce() {
        var job = JobLifecycle()
        _ = job.start()
        #expect(job.executionFailed(Self.failure) == .answer(.failed(Self.failure, refreshWorker: false)))
        #expect(job.executionFailed(Self.failure) == .none)
        #expect(job.executionSucceeded() == .none)
        #expect(job.delivered(Self.output) == .none)
        #expect(job.stopRequested() == .none)
        #expect(job.shutdownDeadlinePassed() == .none)
        #expect(job.state == .failed)
    }

    @Test func stopWhileRunningInterruptsAndNeverAnswers() {
        var job = JobLifecycle()
        _ = job.start()
        _ = job.promptQueued("p9")
        #expect(job.stopRequested() == .interrupt(promptID: "p9"))
        #expect(job.state == .stopped)
        #expect(job.executionFailed(Self.failure) == .none)
        #expect(job.executionSucceeded() == .none)
        #expect(job.progress() == .none)
        #expect(!job.answered)
    }

    @Test func stopBeforeStartAndDuringDelivery() {
        var queued = JobLifecycle()
        #expect(queued.stopRequested() == .none)
        #expect(queued.start() == .none)
        #expect(queued.state == .stopped)

        var delivering = JobLifecycle()
        _ = delivering.start()
        _ = delivering.executionSucceeded()
        #expect(delivering.stopRequested() == .cancelDelivery)
        #expect(delivering.delivered(Self.output) == .none)
    }

    @Test func shutdownDeadlineAnswersRetryable() {
        var job = JobLifecycle()
        _ = job.start()
        _ = job.promptQueued("p2")
        guard case .interruptAndAnswer(let prompt, .failed(let failure, false)) = job.shutdownDeadlinePassed() else {
            Issue.record("expected interruptAndAnswer")
            return
        }
        #expect(prompt == "p2")
        #expect(failure.kind == .interrupted)
        #expect(failure.retryable)
        #expect(job.executionFailed(Self.failure) == .none)
    }
}

@Suite struct RunPodLoopStateMachineTests {
    typealias Machine = RunPodLoopStateMachine
    static func job(_ id: String) -> RunPodJob { RunPodJob(id: id, input: ["workflow": [:]], raw: ["id": .string(id)]) }
    static let output = JobLifecycleTests.output

    @Test func takesUntilAJobArrives() {
        var loop = Machine()
        #expect(loop.nextAction() == .take(jobInProgress: false))
        loop.taken(.noJob(elapsed: .seconds(90)))
        #expect(loop.nextAction() == .take(jobInProgress: false))
        loop.taken(.noJob(elapsed: .milliseconds(200)))
        #expect(loop.nextAction() == .sleep(.milliseconds(800)))
        #expect(loop.nextAction() == .take(jobInProgress: false))
    }

    @Test func rateLimitAndBackoff() {
        var loop = Machine()
        loop.taken(.rateLimited)
        #expect(loop.nextAction() == .sleep(.seconds(5)))
        for expected in [1, 2, 4, 8, 16, 30, 30] {
            loop.taken(.failed("boom"))
            #expect(loop.nextAction() == .sleep(.seconds(expected)))
        }
        loop.taken(.noJob(elapsed: .seconds(5)))
        loop.taken(.malformed("x"))
        #expect(loop.nextAction() == .sleep(.seconds(1)))
    }

    @Test func batchRunsInOrderAndEachIsPosted() {
        var loop = Machine()
        loop.taken(.jobs([Self.job("a"), Self.job("b")]))
        #expect(loop.nextAction() == .run(Self.job("a")))
        #expect(loop.runningJobID == "a")
        loop.jobEnded(id: "a", outcome: .completed(Self.output))
        #expect(loop.nextAction() == .post(jobID: "a", body: ["output": Self.output.json]))
        #expect(loop.nextAction() == .run(Self.job("b")))
        loop.jobEnded(id: "b", outcome: .failed(JobLifecycleTests.failure, refreshWorker: false))
        guard case .post("b", let body) = loop.nextAction() else {
            Issue.record("expected a post")
            return
        }
        let errorText = body["error"]?.stringValue ?? ""
        let decoded = try? JSONParser.parse(errorText)
        #expect(decoded?["error"] == "execution")
        #expect(decoded?["node_id"] == "3")
        #expect(body["stopPod"] == nil)
        #expect(loop.nextAction() == .take(jobInProgress: false))
    }

    @Test func stoppedJobsAreNeverPosted() {
        var loop = Machine()
        loop.taken(.jobs([Self.job("a"), Self.job("b"), Self.job("c")]))
        #expect(loop.nextAction() == .run(Self.job("a")))
        let hitRunning = loop.stopRequested(["a", "b"])
        #expect(hitRunning)
        loop.jobEnded(id: "a", outcome: .stopped)
        #expect(loop.nextAction() == .run(Self.job("c")))
        let hitOther = loop.stopRequested(["zzz"])
        #expect(!hitOther)
    }

    @Test func refreshWorkerPostsStopPodThenExits() {
        var loop = Machine()
        loop.taken(.jobs([Self.job("a"), Self.job("b")]))
        _ = loop.nextAction()
        let oom = JobFailure(kind: .outOfMemory, message: "CUDA out of memory")
        loop.jobEnded(id: "a", outcome: .failed(oom, refreshWorker: true))
        guard case .post("a", let body) = loop.nextAction() else {
            Issue.record("expected a post")
            return
        }
        #expect(body["stopPod"] == true)
        #expect(loop.nextAction() == .exit)
    }

    @Test func shutdownFinishesTheRunningJobAnswersQueuedOnesAndExits() {
        var loop = Machine()
        loop.taken(.jobs([Self.job("a"), Self.job("b")]))
        _ = loop.nextAction()
        loop.shutdownRequested()
        #expect(loop.nextAction() == .sleep(.milliseconds(50)))
        loop.jobEnded(id: "a", outcome: .completed(Self.output))
        #expect(loop.nextAction() == .post(jobID: "a", body: ["output": Self.output.json]))
        guard case .post("b", let body) = loop.nextAction() else {
            Issue.record("expected b answered")
            return
        }
        let decoded = try? JSONParser.parse(body["error"]?.stringValue ?? "")
        #expect(decoded?["retryable"] == true)
        #expect(loop.nextAction() == .exit)
    }

    @Test func shutdownWhenIdleExitsAtOnce() {
        var loop = Machine()
        loop.taken(.rateLimited)
        loop.shutdownRequested()
        #expect(loop.nextAction() == .exit)
    }
}

@Suite struct RunPodConfigurationTests {
    @Test func placeholdersAndQueries() throws {
        let environment = [
            "RUNPOD_WEBHOOK_GET_JOB": "https://api.runpod.ai/v2/ep/job-take/$ID?gpu=A100",
            "RUNPOD_WEBHOOK_POST_OUTPUT": "https://api.runpod.ai/v2/ep/job-done/$RUNPOD_POD_ID/$ID?gpu=A100",
            "RUNPOD_WEBHOOK_PING": "https://api.runpod.ai/v2/ep/ping/$RUNPOD_POD_ID",
            "RUNPOD_POD_ID": "pod1", "RUNPOD_PING_INTERVAL": "2500", "RUNPOD_AI_API_KEY": "k-secret",
        ]
        let configuration = try #require(try RunPodConfiguration.fromEnvironment(environment))
        #expect(configuration.pingInterval == .milliseconds(2500))
        #expect(configuration.apiKey == "k-secret")
        #expect(
            configuration.takeURL(jobInProgress: false)
                == "https://api.runpod.ai/v2/ep/job-take/pod1?gpu=A100&job_in_progress=0")
        #expect(configuration.takeURL(jobInProgress: true).hasSuffix("job_in_progress=1"))
        #expect(configuration.stopURL() == "https://api.runpod.ai/v2/ep/job-stop/pod1?gpu=A100")
        #expect(
            configuration.resultURL(jobID: "j 1")
                == "https://api.runpod.ai/v2/ep/job-done/pod1/j%201?gpu=A100&isStream=false")
        #expect(configuration.pingURL(jobIDs: []) == "https://api.runpod.ai/v2/ep/ping/pod1?runpod_version=1.12.0")
        #expect(
            configuration.pingURL(jobIDs: ["a", "b"])
                == "https://api.runpod.ai/v2/ep/ping/pod1?job_id=a%2Cb&runpod_version=1.12.0")
    }

    @Test func localModeAndErrors() throws {
        #expect(try RunPodConfiguration.fromEnvironment([:]) == nil)
        #expect(throws: RunPodConfigurationError.self) {
            try RunPodConfiguration.fromEnvironment(["RUNPOD_WEBHOOK_GET_JOB": "http://x/job-take/$ID"])
        }
        #expect(throws: RunPodConfigurationError.self) {
            try RunPodConfiguration.fromEnvironment([
                "RUNPOD_WEBHOOK_GET_JOB": "http://x/job-take/$ID", "RUNPOD_WEBHOOK_POST_OUTPUT": "http://x/$ID",
                "RUNPOD_PING_INTERVAL": "soon",
            ])
        }
        let random = try #require(
            try RunPodConfiguration.fromEnvironment([
                "RUNPOD_WEBHOOK_GET_JOB": "http://x/job-take/$ID", "RUNPOD_WEBHOOK_POST_OUTPUT": "http://x/$ID",
            ]))
        #expect(random.workerID.hasPrefix("worker-"))
        #expect(random.pingInterval == .seconds(10))
    }

    @Test func parseTakeBodies() {
        #expect(
            RunPodWorker.parseJobs(Array(#"{"id":"a","input":{"x":1},"webhook":"w"}"#.utf8))
                == .jobs([RunPodJob(id: "a", input: ["x": 1], raw: ["id": "a", "input": ["x": 1], "webhook": "w"])]))
        guard
            case .jobs(let batch) = RunPodWorker.parseJobs(Array(#"[{"id":"a"},{"nope":1},{"id":"b","input":2}]"#.utf8))
        else {
            Issue.record("expected a batch")
            return
        }
        #expect(batch.map(\.id) == ["a", "b"])
        #expect(batch[0].input == nil)
        if case .malformed = RunPodWorker.parseJobs(Array("{}".utf8)) {} else { Issue.record("{} is malformed") }
        if case .malformed = RunPodWorker.parseJobs(Array("<html>".utf8)) {} else { Issue.record("html is malformed") }
    }
}
