import ComfyCrypto
import ComfyHandlerHTTP
import ComfyLock
import ComfyTransport
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Synchronization
import TestSupport
import Testing

@testable import ComfyHandler

#if canImport(Glibc)
    import Glibc
#endif

struct ToolError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Runs a Python script of scripts/testsupport with the test venv's interpreter.
enum PythonTool {
    static var python: String {
        FileManager.default.isExecutableFile(atPath: TestPaths.python.path) ? TestPaths.python.path : "/usr/bin/python3"
    }

    static func run(_ script: String, _ arguments: [String] = [], input: Data? = nil) throws -> SubprocessResult {
        try Subprocess.run(
            python, [TestPaths.testScripts.appendingPathComponent(script).path] + arguments, input: input)
    }
}

/// `GET /metrics` scraped over a real socket and parsed by prometheus_client's own text parser (an independent
/// reader); the values move as real jobs run on the ComfyUI stand-in (a completed job, a refused one, a job that
/// crashes ComfyUI, which the supervisor restarts).
@Suite(.serialized) struct WorkerMetricsTests {
    struct Sample {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    struct Scrape {
        var families: [String: String]
        var samples: [Sample]

        func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
            samples.first { sample in
                sample.name == name && labels.allSatisfy { key, value in sample.labels[key] == value }
            }?.value
        }
    }

    static func parse(_ text: String) throws -> Scrape {
        let result = try PythonTool.run("parse_metrics.py", input: Data(text.utf8))
        guard result.status == 0 else {
            throw ToolError("prometheus_client could not parse the exposition: \(result.standardError)")
        }
        let json = try JSONParser.parse(Array(result.standardOutput.utf8))
        var families: [String: String] = [:]
        for (name, type) in json["families"]?.objectValue ?? [:] { families[name] = type.stringValue }
        let samples = (json["samples"]?.arrayValue ?? []).map { item in
            var labels: [String: String] = [:]
            for (key, value) in item["labels"]?.objectValue ?? [:] { labels[key] = value.stringValue }
            return Sample(
                name: item["name"]?.stringValue ?? "", labels: labels, value: item["value"]?.numberValue ?? .nan)
        }
        return Scrape(families: families, samples: samples)
    }

    static func scrape(_ client: some TestClientProtocol) async throws -> Scrape {
        let text = try await client.execute(uri: "/metrics", method: .get) { response -> String in
            #expect(response.status == .ok)
            #expect(response.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)
            return String(decoding: response.body.readableBytesView, as: UTF8.self)
        }
        return try parse(text)
    }

    static func body(_ value: JSONValue) -> ByteBuffer { ByteBuffer(bytes: CanonicalJSON.encode(value)) }

    @Test func metricsParseWithPrometheusClientAndMoveAsJobsRun() async throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let worker = try await WorkerStartup.prepare(
            HandlerEndToEndTests.launchOptions(scratch: scratch), logger: Logger(label: "t"))
        let supervisor = try #require(worker.supervisor)
        let api = HandlerHTTPAPI(queue: LocalJobQueue(runner: worker.runner))
        try await Application(router: api.router()).test(.live) { client in
            let before = try await Self.scrape(client)
            // Every family is declared before the first job, with its type.
            #expect(before.families["comfylock_handler_jobs"] == "counter")
            #expect(before.families["comfylock_handler_job_phase_duration_seconds"] == "histogram")
            #expect(before.families["comfylock_handler_queue_depth"] == "gauge")
            #expect(before.families["comfylock_handler_comfyui_restarts"] == "counter")
            #expect(before.families["comfylock_handler_model_cache_hits"] == "counter")
            #expect(before.families["comfylock_handler_model_fetched_bytes"] == "counter")
            #expect(before.families["comfylock_handler_job_peak_ram_bytes"] == "histogram")
            #expect(before.value("comfylock_handler_jobs_total", ["outcome": "completed"]) == 0)
            #expect(before.value("comfylock_handler_comfyui_restarts_total") == 0)

            for (input, expected) in [
                (["workflow": HandlerEndToEndTests.probe] as JSONValue, "COMPLETED"),
                (["workflow": [:]], "FAILED"),
                (["workflow": HandlerEndToEndTests.crashGraph], "FAILED"),
            ] {
                try await client.execute(uri: "/runsync", method: .post, body: Self.body(["input": input])) {
                    #expect(Self.parseJSON($0)["status"] == .string(expected))
                }
            }
            // The supervisor restarts the crashed ComfyUI; the next job runs on it.
            let deadline = ContinuousClock.now + .seconds(30)
            while supervisor.restartCount < 1 && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
            }
            try await client.execute(
                uri: "/runsync", method: .post, body: Self.body(["input": ["workflow": HandlerEndToEndTests.probe]])
            ) { #expect(Self.parseJSON($0)["status"] == "COMPLETED") }

            let after = try await Self.scrape(client)
            #expect(after.value("comfylock_handler_jobs_total", ["outcome": "completed", "error_kind": "none"]) == 2)
            #expect(
                after.value("comfylock_handler_jobs_total", ["outcome": "failed", "error_kind": "validation"]) == 1)
            #expect(after.value("comfylock_handler_jobs_total", ["outcome": "failed", "error_kind": "crashed"]) == 1)
            for phase in ["queue", "run", "upload"] {
                #expect(after.value("comfylock_handler_job_phase_duration_seconds_count", ["phase": phase]) == 2)
                // Cumulative buckets end at +Inf with the count.
                #expect(
                    after.value("comfylock_handler_job_phase_duration_seconds_bucket", ["phase": phase, "le": "+Inf"])
                        == 2)
            }
            #expect(after.value("comfylock_handler_job_phase_duration_seconds_count", ["phase": "fetch"]) == 0)
            #expect(after.value("comfylock_handler_job_duration_seconds_count") == 4)
            #expect((after.value("comfylock_handler_job_duration_seconds_sum") ?? 0) > 0)
            #expect((after.value("comfylock_handler_comfyui_restarts_total") ?? 0) >= 1)
            #expect(after.value("comfylock_handler_queue_depth") == 0)
            #expect(after.value("comfylock_handler_jobs_in_progress") == 0)
            // Peak RAM from ComfyUI's /system_stats during the job (the stand-in reports the host's memory).
            #expect((after.value("comfylock_handler_last_job_peak_ram_bytes") ?? 0) > 0)
            #expect(after.value("comfylock_handler_job_peak_ram_bytes_count") == 2)
        }
        await worker.shutdown()
    }

    static func parseJSON(_ response: TestResponse) -> JSONValue {
        (try? JSONParser.parse(Array(response.body.readableBytesView))) ?? .null
    }

    @Test func modelCacheCountersAndGarbageFreeExposition() throws {
        let metrics = WorkerMetrics()
        metrics.modelNeeded(hit: true)
        metrics.modelNeeded(hit: false, bytes: 1234)
        metrics.modelNeeded(hit: false, bytes: 66)
        let restarts = Mutex(3)
        metrics.addRestartSource { restarts.withLock { $0 } }
        var scrape = try Self.parse(metrics.exposition())
        #expect(scrape.value("comfylock_handler_model_cache_hits_total") == 1)
        #expect(scrape.value("comfylock_handler_model_cache_misses_total") == 2)
        #expect(scrape.value("comfylock_handler_model_fetched_bytes_total") == 1300)
        #expect(scrape.value("comfylock_handler_comfyui_restarts_total") == 3)
        restarts.withLock { $0 = 5 }
        scrape = try Self.parse(metrics.exposition())
        #expect(scrape.value("comfylock_handler_comfyui_restarts_total") == 5, "moves by the difference, once")
        scrape = try Self.parse(metrics.exposition())
        #expect(scrape.value("comfylock_handler_comfyui_restarts_total") == 5)
    }
}

/// Completion webhooks on a loopback receiver that verifies every signature with Python's hmac (an independent
/// implementation of the Standard Webhooks scheme).
@Suite(.serialized) struct WebhookTests {
    final class Receiver: Sendable {
        let port: Int
        let process: Mutex<Process?>

        init(secret: String, failFirst: Int = 0) throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: PythonTool.python)
            process.arguments = [
                TestPaths.testScripts.appendingPathComponent("webhook_receiver.py").path, "--secret", secret,
                "--fail-first", String(failFirst),
            ]
            let out = Pipe()
            process.standardOutput = out
            process.standardError = FileHandle.nullDevice
            process.standardInput = FileHandle.nullDevice
            try process.run()
            let (ready, text) = ServerReadyLine.port(from: out.fileHandleForReading)
            guard let port = ready else {
                throw ToolError("the webhook receiver did not start: \(text)")
            }
            self.port = port
            self.process = Mutex(process)
        }

        var url: String { "http://127.0.0.1:\(port)/hook?token=path-secret" }

        /// Children of the test runner inherit a blocked SIGTERM: SIGKILL.
        func stop() {
            process.withLock { process in
                if let process, process.isRunning { kill(process.processIdentifier, SIGKILL) }
                process = nil
            }
        }

        func deliveries() async throws -> [JSONValue] {
            let response = try await HTTPClient.shared.send(
                ComfyTransport.HTTPRequest(
                    url: URL(string: "http://127.0.0.1:\(port)/deliveries")!, useEnvironmentCredentials: false),
                retry: RetryPolicy.none)
            return try JSONParser.parse(response.body).arrayValue ?? []
        }

        /// Waits until `count` deliveries arrived (or 20 s passed).
        func waitFor(_ count: Int) async throws -> [JSONValue] {
            let deadline = ContinuousClock.now + .seconds(20)
            var seen = try await deliveries()
            while seen.count < count && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
                seen = try await deliveries()
            }
            return seen
        }
    }

    /// Log lines of a notifier, to check that no secret reaches a log.
    final class CapturedLog: Sendable {
        let lines = Mutex<[String]>([])
        var logger: Logger {
            Logger(label: "webhook-test") { _ in CapturingHandler(log: self) }
        }
    }

    struct CapturingHandler: LogHandler {
        let log: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let all = metadata.merging(event.metadata ?? [:]) { $1 }
            log.lines.withLock { $0.append("\(event.level) \(event.message) \(all)") }
        }
    }

    static let secretText = "whsec_" + Data("a-very-secret-signing-key-32byte".utf8).base64EncodedString()

    static func notifier(
        allowPrivate: Bool = true, defaultURL: URL? = nil, log: CapturedLog = CapturedLog(), attempts: Int = 4
    ) -> (WebhookNotifier, WorkerMetrics) {
        let metrics = WorkerMetrics()
        let configuration = WebhookConfiguration(
            defaultURL: defaultURL, secret: WebhookConfiguration.key(fromSecret: secretText),
            allowPrivate: allowPrivate,
            retry: RetryPolicy(maxAttempts: attempts, initialDelay: .milliseconds(50), maxDelay: .milliseconds(200)),
            timeout: .seconds(5))
        return (WebhookNotifier(configuration: configuration, metrics: metrics, logger: log.logger), metrics)
    }

    @Test func hmacMatchesRFC4231() {
        // RFC 4231 test cases 1 and 2.
        let one = HMACSHA256.authenticationCode(
            for: Array("Hi There".utf8), key: [UInt8](repeating: 0x0B, count: 20))
        #expect(Hex.encode(one) == "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
        let two = HMACSHA256.authenticationCode(
            for: Array("what do ya want for nothing?".utf8), key: Array("Jefe".utf8))
        #expect(Hex.encode(two) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        // A key longer than the block is hashed first (case 6).
        let six = HMACSHA256.authenticationCode(
            for: Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8),
            key: [UInt8](repeating: 0xAA, count: 131))
        #expect(Hex.encode(six) == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
        #expect(HMACSHA256.constantTimeEqual(one, one))
        #expect(!HMACSHA256.constantTimeEqual(one, two))
    }

    @Test func secretForms() {
        #expect(WebhookConfiguration.key(fromSecret: "whsec_" + Data([1, 2, 3]).base64EncodedString()) == [1, 2, 3])
        #expect(WebhookConfiguration.key(fromSecret: "plain text\n") == Array("plain text".utf8))
        #expect(WebhookConfiguration.key(fromSecret: "whsec_***") == nil)
        #expect(WebhookConfiguration.key(fromSecret: "  ") == nil)
    }

    static let output = JobOutput(
        outputs: [
            DeliveredOutput(
                nodeID: "9", classType: "TestText", kind: .text, filename: nil, mediaType: "text/plain", size: 2,
                sha256: String(repeating: "0", count: 64), payload: .text("hi"))
        ], promptID: "p-1", lockDigest: nil, environment: EnvironmentIdentity(comfyUICommit: nil),
        timings: JobTimings(queueMS: 1, runMS: 2, uploadMS: 3, totalMS: 6))

    @Test func deliveriesAreSignedRetriedAndSentOncePerJobID() async throws {
        let receiver = try Receiver(secret: Self.secretText, failFirst: 2)
        defer { receiver.stop() }
        let log = CapturedLog()
        let (notifier, metrics) = Self.notifier(log: log)
        notifier.notify(jobID: "job-1", outcome: .completed(Self.output), jobURL: receiver.url)
        // The same job id again (a re-delivered job): not sent a second time.
        notifier.notify(jobID: "job-1", outcome: .completed(Self.output), jobURL: receiver.url)
        notifier.notify(
            jobID: "job-2", outcome: .failed(JobFailure(kind: .execution, message: "boom"), refreshWorker: false),
            jobURL: receiver.url)
        await notifier.drain()
        let seen = try await receiver.waitFor(4)
        // job-1 and job-2 share the two 503s, then each is delivered: 4 requests, every one signed and verified.
        #expect(seen.count == 4)
        for delivery in seen {
            #expect(delivery["verified"] == true, "Python's hmac verifies \(delivery["signature"] ?? .null)")
            #expect(delivery["timestamp_fresh"] == true)
            #expect(delivery["signature"]?.stringValue?.hasPrefix("v1,") == true)
            #expect(delivery["headers"]?["content-type"] == "application/json")
            #expect(delivery["raw"]?.stringValue?.contains("a-very-secret") == false)
            #expect(delivery["raw"]?.stringValue?.contains(Self.secretText) == false)
        }
        let delivered = seen.filter { $0["answered"] == 200 }
        #expect(Set(delivered.compactMap { $0["id"]?.stringValue }) == ["job-1", "job-2"])
        #expect(delivered.count == 2, "at most once per job id")
        let one = try #require(delivered.first { $0["id"] == "job-1" })
        #expect(one["body"]?["status"] == "COMPLETED")
        #expect(one["body"]?["id"] == "job-1")
        #expect(one["body"]?["output"]?["outputs"]?.arrayValue?.first?["text"] == "hi")
        let two = try #require(delivered.first { $0["id"] == "job-2" })
        #expect(two["body"]?["status"] == "FAILED")
        #expect(two["body"]?["error"]?["error"] == "execution")
        #expect(try Self.count(metrics, "delivered") == 2)
        // Logs name the destination's host only: no secret, no path token.
        let lines = log.lines.withLock { $0 }
        #expect(!lines.isEmpty)
        for line in lines {
            #expect(!line.contains("a-very-secret") && !line.contains(Self.secretText) && !line.contains("path-secret"))
        }
    }

    static func count(_ metrics: WorkerMetrics, _ result: String) throws -> Double? {
        try WorkerMetricsTests.parse(metrics.exposition()).value(
            "comfylock_handler_webhook_deliveries_total", ["result": result])
    }

    @Test func privateDestinationsAreRefusedUnlessAllowed() async throws {
        let receiver = try Receiver(secret: Self.secretText)
        defer { receiver.stop() }
        let (notifier, metrics) = Self.notifier(allowPrivate: false)
        #expect(notifier.refusal(for: receiver.url) != nil)
        #expect(notifier.refusal(for: "http://169.254.169.254/latest") != nil)
        #expect(notifier.refusal(for: "http://user:pw@example.com/") != nil)
        #expect(notifier.refusal(for: "ftp://example.com/") != nil)
        notifier.notify(jobID: "job-p", outcome: .completed(Self.output), jobURL: receiver.url)
        notifier.notify(
            jobID: "job-q", outcome: .completed(Self.output), jobURL: "http://localhost:\(receiver.port)/hook")
        // A name that is not refused by its spelling but resolves to loopback (from /etc/hosts) is refused after
        // resolution, before any connection.
        let names = Self.loopbackNames()
        for (index, name) in names.enumerated() {
            notifier.notify(
                jobID: "job-r\(index)", outcome: .completed(Self.output), jobURL: "http://\(name):\(receiver.port)/hook"
            )
        }
        await notifier.drain()
        #expect(try await receiver.deliveries().isEmpty)
        #expect(try Self.count(metrics, "refused") == Double(2 + names.count))
    }

    /// Host names of /etc/hosts that resolve to loopback and pass the spelling rule (e.g. Debian's `ip6-localhost`).
    static func loopbackNames() -> [String] {
        guard let hosts = try? String(contentsOfFile: "/etc/hosts", encoding: .utf8) else { return [] }
        var names: [String] = []
        for line in hosts.split(separator: "\n") where !line.hasPrefix("#") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard fields.count >= 2, fields[0].hasPrefix("127.") || fields[0] == "::1" else { continue }
            for name in fields.dropFirst() where !name.hasPrefix("#") {
                guard let url = URL(string: "http://\(name)/"),
                    AddressPolicy.refusal(for: url, allowPrivate: false) == nil
                else { continue }
                let resolved = AddressPolicy.resolve(host: name)
                if !resolved.isEmpty && resolved.allSatisfy({ !$0.isPublic }) { names.append(name) }
            }
        }
        return Array(Set(names)).sorted()
    }

    /// The connection goes to the address that was checked: a name that does not resolve at all reaches the
    /// receiver when the request is pinned to 127.0.0.1 (libcurl does no lookup of its own).
    @Test func pinnedAddressIsTheOneConnectedTo() async throws {
        let receiver = try Receiver(secret: Self.secretText)
        defer { receiver.stop() }
        var request = ComfyTransport.HTTPRequest(
            method: .post, url: URL(string: "http://webhook.invalid:\(receiver.port)/pinned")!,
            body: .bytes(Array("{}".utf8)),
            followRedirects: false, useEnvironmentCredentials: false, timeout: .seconds(5))
        request.connectAddress = "127.0.0.1"
        let response = try await HTTPClient.shared.send(request, retry: RetryPolicy.none)
        #expect(response.status == 200)
        let seen = try await receiver.deliveries()
        #expect(seen.first?["path"] == "/pinned")
        #expect(seen.first?["headers"]?["host"] == .string("webhook.invalid:\(receiver.port)"))
        // Without the pin the name does not resolve.
        request.connectAddress = nil
        await #expect(throws: (any Error).self) { try await HTTPClient.shared.send(request, retry: RetryPolicy.none) }
    }

    /// A job's `webhook` (RunPod's `/run` convention) through the HTTP API: the answer is posted there, signed;
    /// a stopped job is not notified.
    @Test func runWithWebhookOverTheHTTPAPI() async throws {
        let receiver = try Receiver(secret: Self.secretText)
        defer { receiver.stop() }
        let (notifier, _) = Self.notifier()
        let base = ScriptedExecutor.runner()
        let runner = JobRunner(
            validator: base.validator, executor: base.executor, environment: base.environment,
            metrics: notifier.metrics,
            webhooks: notifier)
        let api = HandlerHTTPAPI(queue: LocalJobQueue(runner: runner))
        try await Application(router: api.router()).test(.router) { client in
            let job: JSONValue = [
                "input": ScriptedExecutor.job([("1", "TestText", ["text": "hook"])]), "webhook": .string(receiver.url),
            ]
            let id = try await client.execute(uri: "/runsync", method: .post, body: WorkerMetricsTests.body(job)) {
                response -> String in
                let json = WorkerMetricsTests.parseJSON(response)
                #expect(json["status"] == "COMPLETED")
                return json["id"]?.stringValue ?? ""
            }
            try await client.execute(
                uri: "/run", method: .post, body: WorkerMetricsTests.body(["input": [:], "webhook": 5])
            ) { #expect($0.status == .badRequest) }
            await notifier.drain()
            let seen = try await receiver.waitFor(1)
            #expect(seen.count == 1)
            #expect(seen.first?["id"] == .string(id))
            #expect(seen.first?["verified"] == true)
            #expect(seen.first?["body"]?["output"]?["outputs"]?.arrayValue?.first?["text"] == "hook")
        }
    }
}

/// The worker follows its jobs on one long-lived ComfyUI WebSocket (issue 12's throughput: no handshake before each
/// prompt), counted by the stand-in's own log of WebSocket connections; `sharedSocket = false` opens one per job.
@Suite(.serialized) struct SharedSocketTests {
    static func connections(_ comfy: ComfyUIStandIn) -> Int {
        comfy.log.components(separatedBy: "\n").filter { $0.contains("websocket connected:") }.count
    }

    static func runJobs(shared: Bool, count: Int) async throws -> (connections: Int, completed: Int) {
        let comfy = try ComfyUIStandIn.start()
        defer { comfy.stop() }
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        var options = WorkerOptions(comfyUIURL: comfy.baseURL.absoluteString, scratch: scratch.path)
        options.sharedSocket = shared
        let worker = try await WorkerStartup.prepare(options, logger: Logger(label: "t"))
        var completed = 0
        for index in 0..<count {
            // A different colour each time: no job is answered from ComfyUI's cache.
            var graph = HandlerEndToEndTests.probe
            graph = .object(
                (graph.objectValue ?? [:]).merging(
                    [
                        "1": [
                            "class_type": "EmptyImage",
                            "inputs": ["width": 8, "height": 8, "batch_size": 1, "color": .number(Double(index))],
                        ]
                    ]
                ) { $1 })
            let outcome = await worker.runner.run(id: "socket-\(index)", input: ["workflow": graph])
            if case .completed(let output) = outcome, output.outputs.count == 1 { completed += 1 }
        }
        await worker.shutdown()
        return (connections(comfy), completed)
    }

    @Test func jobsShareOneSocket() async throws {
        let shared = try await Self.runJobs(shared: true, count: 4)
        #expect(shared.completed == 4)
        #expect(shared.connections == 1, "one WebSocket for four jobs, got \(shared.connections)")
        let perJob = try await Self.runJobs(shared: false, count: 3)
        #expect(perJob.completed == 3)
        #expect(perJob.connections == 3)
    }
}
