public import ComfyLock
public import Logging

/// One run of a workflow, as the reproducibility checks need it.
public struct ReproRun: Sendable, Hashable {
    /// Every output, indexed per node in the order ComfyUI's history lists them.
    public var outputs: [ReproOutput]
    /// True when ComfyUI served the whole prompt from its cache (nothing was executed).
    public var cached: Bool

    /// A run.
    public init(outputs: [ReproOutput], cached: Bool) {
        self.outputs = outputs
        self.cached = cached
    }
}

/// Runs an API-format workflow once on a ComfyUI server (ComfyServer's `WorkflowRunner` in production) and hashes
/// its outputs. Implementations must make the run independent of the previous one (see `ReproWorkflowRunner`).
public protocol ReproRunning: Sendable {
    /// Runs `workflow` and returns its outputs.
    func run(_ workflow: Workflow) async throws -> ReproRun
}

/// The verdict for one recorded workflow.
public enum ReproVerdict: String, Codable, Hashable, Sendable {
    /// Every output is byte for byte what was recorded.
    case equal
    /// Outputs differ from the recording only in PNG metadata, and a second run gave the same bytes as the first.
    case metadataOnly = "metadata-only"
    /// Outputs differ from the recording, and a second run on the same server gave the same outputs as the first:
    /// the environment (or the server) changed, deterministically.
    case drift
    /// A second run on the same server gave other outputs than the first: the workflow is not deterministic here,
    /// so a difference from the recording does not show drift by itself.
    case nondeterministic
    /// The workflow could not be run or compared.
    case error
}

/// The result of checking one recorded workflow.
public struct ReproWorkflowCheck: Codable, Hashable, Sendable {
    /// The workflow name.
    public var name: String
    /// The verdict.
    public var verdict: ReproVerdict
    /// First run against the recording, one entry per expected or produced output.
    public var outputs: [ReproOutputComparison]
    /// Second run against the first (only when the first differed from the recording): the outputs that differ.
    public var rerunDifferences: [ReproOutputComparison]
    /// Lock items that changed since the recording (empty when the recorded lock digest still matches).
    public var lockChanges: [LockFieldChange]
    /// The number of runs made (1, or 2 when the first differed).
    public var runs: Int
    /// True when a run was served entirely from ComfyUI's cache (then it proves nothing about this environment).
    public var cached: Bool
    /// The error, for verdict `error`.
    public var error: String?

    /// True when the check passed.
    public var passed: Bool { verdict == .equal }
}

/// The result of `repro check`.
public struct ReproCheckReport: Codable, Hashable, Sendable {
    /// One entry per checked workflow, sorted by name.
    public var workflows: [ReproWorkflowCheck]
    /// Workflows skipped (no recording: schema-version-1 expectations cannot be matched per node), with the reason.
    public var skipped: [String: String]
    /// True when every checked workflow is equal.
    public var passed: Bool { !workflows.isEmpty && workflows.allSatisfy(\.passed) }
}

/// `repro record`: runs a workflow and turns its outputs into a lock entry.
public struct ReproRecorder: Sendable {
    /// The runner.
    public let runner: any ReproRunning
    /// How many runs must agree before the outputs are recorded (≥ 1).
    public let runs: Int
    /// Progress and diagnostics.
    public let logger: Logger

    /// A recorder.
    public init(runner: any ReproRunning, runs: Int = 2, logger: Logger = Logger(label: "comfylock.repro")) {
        self.runner = runner
        self.runs = max(1, runs)
        self.logger = logger
    }

    /// Runs `workflow` `runs` times and returns `lock` with the workflow recorded as `name` (an existing entry of
    /// that name is replaced; every other entry is kept as it is). Throws when the runs disagree (the outputs are
    /// not reproducible on this server, so there is nothing stable to record), when the workflow produced no output,
    /// or when a seed cannot be stored exactly.
    public func record(name: String, workflow: Workflow, into lock: Lock) async throws -> (Lock, WorkflowEntry) {
        guard !name.isEmpty else { throw ReproError.workflow("the workflow name is empty") }
        let seeds = try ReproSeeds.seeds(in: workflow.json)
        var first: ReproRun?
        for attempt in 1...runs {
            logger.info("recording \(name): run \(attempt) of \(runs)")
            let run = try await runner.run(workflow)
            if run.outputs.isEmpty {
                throw ReproError.run("workflow \(Escaping.escape(name)) produced no outputs; nothing to record")
            }
            if let first {
                let differences = ReproComparer.compare(expected: first.outputs.map(\.expected), actual: run.outputs)
                    .filter { $0.status != .equal }
                if !differences.isEmpty {
                    throw ReproError.run(
                        "workflow \(Escaping.escape(name)) is not reproducible on this server: run \(attempt) differs "
                            + "from run 1: " + differences.map(\.description).joined(separator: "; "))
                }
                if run.cached {
                    logger.warning("recording \(name): run \(attempt) was served from ComfyUI's cache")
                }
            } else {
                first = run
            }
        }
        let outputs = (first?.outputs ?? []).map(\.expected)
        let entry = WorkflowEntry(
            name: name, inline: workflow.json, expectedOutputs: outputs,
            recording: WorkflowRecording(recording: lock, seeds: seeds))
        var updated = lock
        updated.workflows.removeAll { $0.name == name }
        updated.workflows.append(entry)
        return (updated.sorted(), entry)
    }
}

/// `repro check`: re-runs recorded workflows and compares their outputs with the recording.
public struct ReproChecker: Sendable {
    /// The runner.
    public let runner: any ReproRunning
    /// Progress and diagnostics.
    public let logger: Logger

    /// A checker.
    public init(runner: any ReproRunning, logger: Logger = Logger(label: "comfylock.repro")) {
        self.runner = runner
        self.logger = logger
    }

    /// Checks every recorded workflow of `lock` (or only `name`). `environment` is the lock of what runs (a
    /// version's own lock; by default `lock`): its items are compared with each recording's to name what changed.
    /// Throws `ReproError.notFound` when `name` names no workflow, or when no workflow is recorded.
    public func check(lock: Lock, name: String? = nil, environment: Lock? = nil) async throws -> ReproCheckReport {
        var selected = lock.workflows.sorted { CanonicalJSON.utf16Precedes($0.name, $1.name) }
        if let name {
            selected = selected.filter { $0.name == name }
            if selected.isEmpty {
                throw ReproError.notFound(
                    "no workflow named \(Escaping.escape(name)) in the lock; recorded: "
                        + lock.workflows.map { Escaping.escape($0.name) }.joined(separator: ", "))
            }
        }
        var report = ReproCheckReport(workflows: [], skipped: [:])
        for entry in selected {
            guard entry.recording != nil, entry.inline != nil else {
                report.skipped[entry.name] = "not recorded by repro record (no recording); run repro record for it"
                continue
            }
            report.workflows.append(await check(entry, environment: environment ?? lock))
        }
        if report.workflows.isEmpty {
            throw ReproError.notFound(
                "no recorded workflow to check"
                    + (report.skipped.isEmpty ? "" : " (\(report.skipped.count) without a recording)")
                    + "; record one with: comfy-cli repro record --lock L --workflow W.json")
        }
        return report
    }

    /// Checks one recorded workflow: one run; when it differs from the recording, a second run on the same server
    /// tells nondeterminism (the two runs differ) from drift (they agree with each other, not with the recording).
    public func check(_ entry: WorkflowEntry, environment: Lock) async -> ReproWorkflowCheck {
        var result = ReproWorkflowCheck(
            name: entry.name, verdict: .error, outputs: [], rerunDifferences: [],
            lockChanges: entry.recording?.changes(since: environment) ?? [], runs: 0, cached: false, error: nil)
        do {
            guard let graph = entry.inline else { throw ReproError.workflow("the workflow is not inline") }
            let workflow = try Workflow(json: graph)
            logger.info("checking \(entry.name): run 1")
            let first = try await runner.run(workflow)
            result.runs = 1
            result.cached = first.cached
            result.outputs = ReproComparer.compare(expected: entry.expectedOutputs, actual: first.outputs)
            let differing = result.outputs.filter { $0.status != .equal }
            if differing.isEmpty {
                result.verdict = .equal
                return result
            }
            logger.info("checking \(entry.name): outputs differ from the recording; run 2 to tell drift from noise")
            let second = try await runner.run(workflow)
            result.runs = 2
            result.cached = result.cached || second.cached
            result.rerunDifferences = ReproComparer.compare(
                expected: first.outputs.map(\.expected), actual: second.outputs
            ).filter { $0.status != .equal }
            if !result.rerunDifferences.isEmpty {
                result.verdict = .nondeterministic
            } else if differing.allSatisfy({ $0.status == .metadataOnly }) {
                result.verdict = .metadataOnly
            } else {
                result.verdict = .drift
            }
        } catch {
            result.verdict = .error
            result.error = String(describing: error)
        }
        return result
    }
}
