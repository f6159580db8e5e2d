import ComfyCrypto
import ComfyLock
public import ComfyServer
import ComfySupport
public import ComfyTransport
public import Foundation
public import Logging

/// The executor over ComfyServer: uploads the job's inputs, runs the graph with `WorkflowRunner` (socket +
/// watchdog, deadline escalation, crash detection when supervised), downloads file outputs into a per-job scratch
/// directory, and maps `ComfyUIError` to `JobFailure`.
public final class ComfyServerExecutor: JobExecuting {
    let runner: WorkflowRunner
    let supervisor: ComfyUISupervisor?
    let comfyUI: ComfyUIClient
    let http: HTTPClient
    let limits: JobLimits
    let scratch: String
    let inputDirectory: String?
    let outputDirectory: String?
    let classProviders: [String: String]
    let lockedNodes: [String]?
    let logger: Logger
    let sharedSocket: Bool
    let cacheGuard = OutputCacheGuard()

    /// An executor for a ComfyUI `supervisor` (launched or attached). `scratch` holds each job's downloads (removed
    /// after delivery); `inputDirectory`/`outputDirectory` are ComfyUI's own directories when this worker knows them
    /// (a launched ComfyUI), so the job's files are removed from them after delivery. `classProviders` maps a class
    /// type to the custom node providing it (when known); `lockedNodes` are the lock's enabled custom nodes, named
    /// when a job uses a class no loaded node provides and some of them failed to import (`nil`: no lock).
    public init(
        supervisor: ComfyUISupervisor, limits: JobLimits, scratch: String, inputDirectory: String? = nil,
        outputDirectory: String? = nil, classProviders: [String: String] = [:], lockedNodes: [String]? = nil,
        sharedSocket: Bool = true, httpClient: HTTPClient = .shared,
        logger: Logger = Logger(label: "comfylock.handler.executor")
    ) {
        self.sharedSocket = sharedSocket
        self.runner = WorkflowRunner(supervisor: supervisor, logger: logger)
        self.comfyUI = supervisor.client
        self.supervisor = supervisor
        self.http = httpClient
        self.limits = limits
        self.scratch = scratch
        self.inputDirectory = inputDirectory
        self.outputDirectory = outputDirectory
        self.classProviders = classProviders
        self.lockedNodes = lockedNodes
        self.logger = logger
    }

    /// Runs the job on ComfyUI.
    public func execute(_ job: JobInput, jobID: String, events: ExecutionEvents) async throws -> ExecutionResult {
        let jobDirectory = scratch + "/" + jobID
        var cleanup = [jobDirectory]
        try? FileManager.default.removeItem(atPath: jobDirectory)
        do {
            try FileManager.default.createDirectory(
                atPath: jobDirectory + "/outputs", withIntermediateDirectories: true)
        } catch {
            throw JobFailure(kind: .internal, message: "cannot create the job's scratch directory: \(error)")
        }
        var inputs: [WorkflowInput] = []
        for file in job.files {
            switch file.source {
            case .data(let bytes):
                inputs.append(WorkflowInput(name: file.name, source: .bytes(bytes)))
            case .url(let url):
                let path = jobDirectory + "/in-" + file.name
                try await InputDownloader(http: http, limits: limits).download(
                    url, to: path, sha256: file.sha256, jsonPath: file.path)
                inputs.append(WorkflowInput(name: file.name, source: .file(path)))
            }
            if let inputDirectory { cleanup.append(inputDirectory + "/" + file.name) }
        }
        // The prompt is queued exactly as the job gave it (ComfyUI embeds it in PNG metadata: the same workflow gives
        // the same bytes in every job). When this worker removes delivered outputs and an output node of the previous
        // job would be served from ComfyUI's cache (its files are gone), the cache is evicted first.
        let graph = job.workflow
        if outputDirectory != nil, cacheGuard.needsFlush(graph) {
            var flush = WorkflowRunOptions()
            flush.validate = false
            flush.deadline = job.timeout
            flush.deleteHistory = true
            do {
                _ = try await runner.run(try Workflow(json: ReproWorkflowRunner.flushWorkflow), options: flush)
                cacheGuard.reset()
            } catch {
                logger.warning("could not evict ComfyUI's cache before a repeated job: \(error)")
            }
        }
        let workflow: Workflow
        do {
            workflow = try Workflow(json: .object(graph))
        } catch {
            throw Self.failure(error)
        }
        var options = WorkflowRunOptions(
            deadline: job.timeout, outputDirectory: jobDirectory + "/outputs", classProviders: classProviders)
        // Each output node's files are fetched as soon as it finishes (so a delivery can upload them during the
        // run); the runner only lists them.
        options.fetchOutputs = false
        // Peak RAM/VRAM per job (result and metrics) from /system_stats while the prompt runs.
        options.sampleMemory = true
        options.sharedSocket = sharedSocket
        // The worker reads each prompt's history once; ComfyUI would otherwise keep every job's entry (up to 10,000).
        // The runner deletes them in batches, off the job's critical path.
        options.deleteHistory = true
        let fetcher = NodeOutputFetcher(
            client: comfyUI, directory: jobDirectory + "/outputs",
            onReady: events.outputReady, logger: logger)
        let result: WorkflowRunResult
        do {
            result = try await runner.run(workflow, inputs: inputs, options: options) { event in
                switch event {
                case .nodeOutput(let node, let ui):
                    fetcher.nodeFinished(node, classType: workflow[node]?.classType ?? "?", ui: ui)
                case .queued(let promptID): events.promptQueued(promptID)
                case .progress(let node, let value, let max):
                    events.progress(["node": .string(node), "value": .number(value), "max": .number(max)])
                case .nodeStarted(let node, let classType, let index, let total):
                    events.progress([
                        "node": .string(node), "class_type": .string(classType), "index": .number(Double(index)),
                        "total": .number(Double(total)),
                    ])
                default: break
                }
            }
        } catch is CancellationError {
            fetcher.cancelAll()
            Self.remove(cleanup)
            throw CancellationError()
        } catch {
            fetcher.cancelAll()
            Self.remove(cleanup)
            var failure = Self.failure(error, logTail: supervisor?.logTail(30) ?? [])
            if let comfyError = error as? ComfyUIError, let hint = await missingClassHint(comfyError) {
                failure.details = failure.details.map { detail in
                    guard detail.message.contains("is not installed on this ComfyUI") else { return detail }
                    return ValidationDetail(path: detail.path, message: detail.message + "; " + hint)
                }
                failure.message += "; " + hint
            }
            throw failure
        }
        var produced: [ProducedOutput] = []
        for output in result.outputs {
            if output.filename.isEmpty {
                produced.append(
                    ProducedOutput(
                        nodeID: output.nodeID, classType: output.classType, kind: .text, filename: nil,
                        mediaType: output.mediaType, size: output.size, sha256: output.sha256, text: output.text))
            } else {
                do {
                    produced.append(try await fetcher.output(for: output))
                } catch {
                    fetcher.cancelAll()
                    Self.remove(cleanup)
                    if error is CancellationError { throw error }
                    throw Self.failure(error, logTail: supervisor?.logTail(30) ?? [])
                }
            }
            if let outputDirectory, !output.filename.isEmpty, output.type == "output" {
                let sub = output.subfolder.isEmpty ? "" : output.subfolder + "/"
                cleanup.append(outputDirectory + "/" + sub + output.filename)
            }
        }
        if outputDirectory != nil {
            cacheGuard.record(graph, outputNodes: Set(result.outputs.filter { !$0.filename.isEmpty }.map(\.nodeID)))
        }
        let timings = result.timings
        let peak = max(result.memory.peakVRAMUsed, result.memory.peakRAMUsed)
        return ExecutionResult(
            promptID: result.promptID, outputs: produced,
            queueMS: Int64((timings.upload + timings.validation + timings.queued) * 1000),
            runMS: Int64(timings.execution * 1000), peakMemory: peak > 0 ? peak : nil, cleanupPaths: cleanup,
            peakRAM: result.memory.peakRAMUsed > 0 ? result.memory.peakRAMUsed : nil,
            peakVRAM: result.memory.peakVRAMUsed > 0 ? result.memory.peakVRAMUsed : nil)
    }

    /// For a validation error naming classes no loaded node provides (and no known provider): which locked custom
    /// nodes did not load — the ones whose import failed (from ComfyUI's log, when this worker launched it), else
    /// the locked nodes none of whose classes `/object_info` lists (an attached ComfyUI).
    func missingClassHint(_ error: ComfyUIError) async -> String? {
        let missing = error.nodeErrors.filter { node in
            node.errors.contains { $0.type == "missing_node_type" } && classProviders[node.classType] == nil
        }
        guard !missing.isEmpty, let supervisor else { return nil }
        let failed = supervisor.failedImports
        guard let lockedNodes else {
            return failed.isEmpty ? nil : "custom node(s) that failed to import: \(failed.joined(separator: ", "))"
        }
        let lockedFailed = failed.filter { lockedNodes.contains($0) }
        if !lockedFailed.isEmpty {
            return
                "locked custom node(s) that failed to import on this worker: \(lockedFailed.joined(separator: ", ")) "
                + "(the class is probably theirs; the import error is in the ComfyUI log)"
        }
        if !failed.isEmpty {
            return "custom node(s) that failed to import on this worker: \(failed.joined(separator: ", "))"
        }
        guard !lockedNodes.isEmpty else {
            return "the lock has no custom nodes: the workflow needs one this environment does not have"
        }
        var loaded: Set<String> = []
        if let info = try? await supervisor.client.objectInfo(retry: RetryPolicy.none) {
            for name in info.classNames {
                if let module = info.pythonModule(of: name), module.hasPrefix("custom_nodes.") {
                    loaded.insert(String(module.dropFirst("custom_nodes.".count)))
                }
            }
        }
        let notLoaded = lockedNodes.filter { !loaded.contains($0) }
        if !notLoaded.isEmpty {
            return "locked custom node(s) with no class on this ComfyUI (not loaded, or failed to import): "
                + notLoaded.joined(separator: ", ")
        }
        return "every locked custom node loaded (\(lockedNodes.joined(separator: ", "))) and none provides it: "
            + "the workflow needs a custom node this lock does not have"
    }

    /// Sends the ComfyUI history deletes still batched (the runner sends them within a second anyway).
    public func finish() async { await runner.flushHistoryDeletions() }

    /// Out of memory, or a supervised ComfyUI that cannot be brought back, needs a fresh worker.
    public func needsReplacement(after failure: JobFailure) async -> Bool {
        if failure.kind == .outOfMemory { return true }
        guard failure.kind == .crashed || failure.kind == .unavailable, let supervisor else { return false }
        do {
            _ = try await supervisor.client.systemStats(retry: RetryPolicy(maxAttempts: 3), timeout: .seconds(30))
            return false
        } catch {
            return true
        }
    }

    static func remove(_ paths: [String]) {
        for path in paths { try? FileManager.default.removeItem(atPath: path) }
    }

    /// `ComfyUIError` → `JobFailure` (validation node errors become details; "out of memory" becomes its own kind).
    static func failure(_ error: any Error, logTail: [String] = []) -> JobFailure {
        if let failure = error as? JobFailure { return failure }
        guard let error = error as? ComfyUIError else {
            return JobFailure(kind: .internal, message: String(describing: error), retryable: true)
        }
        let text = error.message.lowercased()
        if text.contains("out of memory") || text.contains("outofmemory") {
            return JobFailure(
                kind: .outOfMemory, message: error.message, nodeID: error.nodeID, classType: error.classType,
                retryable: true, logTail: error.logTail.isEmpty ? logTail : error.logTail)
        }
        let kind: JobFailure.Kind
        switch error.kind {
        case .validation, .invalidWorkflow: kind = .validation
        case .execution: kind = .execution
        case .interrupted: kind = .interrupted
        case .timeout: kind = .timeout
        case .crashed: kind = .crashed
        case .connection, .unavailable: kind = .unavailable
        default: kind = .internal
        }
        var details: [ValidationDetail] = []
        for nodeError in error.nodeErrors {
            for detail in nodeError.errors {
                let input = detail.inputName.map { ".inputs.\($0)" } ?? ""
                details.append(
                    ValidationDetail(
                        path: "input.workflow.\"\(nodeError.nodeID)\"\(input)",
                        message:
                            "\(nodeError.classType): \(detail.message)\(detail.details.isEmpty ? "" : " (\(detail.details))")"
                    ))
            }
        }
        if kind == .validation && details.isEmpty {
            details = [ValidationDetail(path: "input.workflow", message: error.message)]
        }
        let tail = error.logTail.isEmpty && (kind == .crashed || kind == .execution) ? logTail : error.logTail
        return JobFailure(
            kind: kind, message: error.message, nodeID: error.nodeID, classType: error.classType,
            retryable: error.retryable, details: details, logTail: tail)
    }
}

/// Downloads `inputs[].url` files: the host's resolved addresses checked against the private-address rule (unless
/// allowed), redirects followed by hand and each hop checked, a size cap, and the sha256 verified before use.
struct InputDownloader {
    let http: HTTPClient
    let limits: JobLimits

    final class CappedFileSink: HTTPBodySink, @unchecked Sendable {
        // @unchecked: written only from the single transfer thread, read after the transfer returns.
        let handle: FileHandle
        let limit: Int64
        var written: Int64 = 0
        var hasher = SHA256()
        init(handle: FileHandle, limit: Int64) {
            self.handle = handle
            self.limit = limit
        }
        func begin(_ head: HTTPResponseHead) throws {
            if let length = head.contentLength, length > limit {
                throw JobFailure(kind: .validation, message: "too large")
            }
        }
        func write(_ buffer: UnsafeRawBufferPointer) throws {
            written += Int64(buffer.count)
            if written > limit { throw JobFailure(kind: .validation, message: "too large") }
            hasher.update(buffer)
            handle.write(Data(buffer))
        }
    }

    func download(_ url: URL, to path: String, sha256: String?, jsonPath: String) async throws {
        var current = url
        for _ in 0..<6 {
            if let refusal = AddressPolicy.refusal(for: current, allowPrivate: limits.allowPrivateURLs) {
                throw JobFailure.validation(path: "\(jsonPath).url", refusal)
            }
            if !limits.allowPrivateURLs, let host = current.host,
                !(await Task.detached { AddressPolicy.resolvedAddressesArePublic(host: host) }.value)
            {
                throw JobFailure.validation(
                    path: "\(jsonPath).url", "host \(Escape.quoted(host)) does not resolve to public addresses only")
            }
            FileManager.default.createFile(atPath: path, contents: nil)
            guard let handle = FileHandle(forWritingAtPath: path) else {
                throw JobFailure(kind: .internal, message: "cannot write the downloaded input")
            }
            let sink = CappedFileSink(handle: handle, limit: limits.maxDownloadBytes)
            do {
                let request = HTTPRequest(
                    url: current, followRedirects: false, useEnvironmentCredentials: false, timeout: .seconds(300))
                let head = try await http.stream(request, to: sink)
                try? handle.close()
                _ = head
            } catch let error as HTTPError where error.status.map({ (300..<400).contains($0) }) == true {
                try? handle.close()
                // Redirect: follow by hand so each hop is checked. The location is in the excerpt-less error, so ask
                // with a HEAD-free GET via send (no body kept beyond the cap).
                let response = try await http.send(
                    HTTPRequest(
                        url: current, followRedirects: false, useEnvironmentCredentials: false, timeout: .seconds(60)),
                    retry: RetryPolicy.none)
                guard let location = response.headers["Location"], let next = URL(string: location, relativeTo: current)
                else { throw JobFailure.validation(path: "\(jsonPath).url", "redirect without a usable Location") }
                current = next.absoluteURL
                continue
            } catch let error as HTTPError where error.isSinkFailure {
                try? handle.close()
                throw JobFailure.validation(
                    path: "\(jsonPath).url",
                    "the download is larger than this worker's \(limits.maxDownloadBytes)-byte limit")
            } catch {
                try? handle.close()
                throw JobFailure(
                    kind: .validation,
                    message: "cannot download \(jsonPath).url: \(Redaction.redact(String(describing: error)))",
                    details: [
                        ValidationDetail(path: "\(jsonPath).url", message: Redaction.redact(String(describing: error)))
                    ])
            }
            let digest = sink.hasher.finish().hex
            if let sha256, digest != sha256 {
                throw JobFailure.validation(
                    path: "\(jsonPath).sha256", "the download's sha256 is \(digest), not \(sha256)")
            }
            return
        }
        throw JobFailure.validation(path: "\(jsonPath).url", "too many redirects")
    }
}
