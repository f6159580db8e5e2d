import ComfyLock
import ComfySupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import ComfyHandler
@testable import ComfyHandlerHTTP

/// The local HTTP API: in-process router tests plus one over a real socket.
@Suite struct HandlerHTTPAPITests {
    func api(
        readiness: @escaping @Sendable () async -> Readiness = { Readiness(ready: true) }, maxBacklog: Int = 16
    )
        -> HandlerHTTPAPI
    {
        HandlerHTTPAPI(
            queue: LocalJobQueue(runner: ScriptedExecutor.runner()), readiness: readiness, maxBacklog: maxBacklog,
            maxRunSyncBytes: 4096, maxRunBytes: 2048)
    }

    func app(_ api: HandlerHTTPAPI) -> some ApplicationProtocol { Application(router: api.router()) }

    static func body(_ value: JSONValue) -> ByteBuffer { ByteBuffer(bytes: CanonicalJSON.encode(value)) }
    static func parse(_ response: TestResponse) -> JSONValue {
        (try? JSONParser.parse(Array(response.body.readableBytesView))) ?? .null
    }

    @Test func runsyncCompletesAndFails() async throws {
        try await app(api()).test(.router) { client in
            let ok: JSONValue = ["input": ScriptedExecutor.job([("1", "TestText", ["text": "hi"])])]
            try await client.execute(uri: "/runsync", method: .post, body: Self.body(ok)) { response in
                #expect(response.status == .ok)
                let json = Self.parse(response)
                #expect(json["status"] == "COMPLETED")
                #expect(json["id"]?.stringValue?.hasPrefix("local-") == true)
                #expect(json["output"]?["outputs"]?.arrayValue?.first?["text"] == "hi")
                #expect(json["output"]?["environment"]?["handler_version"] == .string(ComfyLockVersion.current))
            }
            try await client.execute(uri: "/runsync", method: .post, body: Self.body(["input": ["workflow": [:]]])) {
                response in
                let json = Self.parse(response)
                #expect(json["status"] == "FAILED")
                let error = try JSONParser.parse(json["error"]?.stringValue ?? "")
                #expect(error["error"] == "validation")
                #expect(error["details"]?.arrayValue?.first?["path"] == "input.workflow")
            }
            try await client.execute(uri: "/runsync", method: .post, body: Self.body(["nothing": 1])) { response in
                let json = Self.parse(response)
                #expect(json["status"] == "FAILED")
            }
            try await client.execute(uri: "/runsync", method: .post, body: ByteBuffer(string: "{not json")) {
                response in
                #expect(response.status == .badRequest)
            }
            let big: JSONValue = [
                "input": ["workflow": ["1": ["class_type": .string(String(repeating: "x", count: 5000))]]]
            ]
            try await client.execute(uri: "/runsync", method: .post, body: Self.body(big)) { response in
                #expect(response.status == .contentTooLarge)
            }
        }
    }

    /// Finished jobs beyond the retention are evicted oldest first (cancelled ones count); queued, running and the
    /// newest finished jobs keep their records.
    @Test func finishedJobsBeyondTheRetentionAreEvictedOldestFirst() async throws {
        let queue = LocalJobQueue(runner: ScriptedExecutor.runner(), retention: 3)
        var ids: [String] = []
        for i in 0..<5 {
            let record = await queue.runSync(
                input: ScriptedExecutor.job([("1", "TestText", ["text": .string("\(i)")])]))
            #expect(record.status == .completed)
            ids.append(record.id)
        }
        let slow = await queue.submit(input: ScriptedExecutor.job([("1", "TestSleep", ["seconds": 30])]))
        let queued = await queue.submit(input: ScriptedExecutor.job([("1", "TestText", ["text": "q"])]))
        #expect(await queue.cancel(queued)?.status == .cancelled)
        for id in ids[..<3] { #expect(await queue.status(id) == nil, "evicted, oldest first") }
        for id in ids[3...] { #expect(await queue.status(id)?.status == .completed) }
        #expect(await queue.status(queued)?.status == .cancelled)
        #expect(await queue.status(slow) != nil, "a running job is never evicted")
        #expect(await queue.keptJobs == 4, "3 finished + 1 running")
        _ = await queue.cancel(slow)
        for i in 0..<2000 {
            _ = await queue.runSync(input: ScriptedExecutor.job([("1", "TestText", ["text": .string("n\(i)")])]))
        }
        #expect(await queue.keptJobs == 3, "the bound holds over many jobs")
        let (listed, head) = await (queue.finishedOrder.count, queue.finishedHead)
        #expect(listed - head == 3)
        #expect(listed < 1100, "the id list is compacted, not grown per job")
    }

    @Test func runStatusAndCancel() async throws {
        try await app(api()).test(.router) { client in
            let slow: JSONValue = ["input": ScriptedExecutor.job([("1", "TestSleep", ["seconds": 30])])]
            let id = try await client.execute(uri: "/run", method: .post, body: Self.body(slow)) { response in
                let json = Self.parse(response)
                #expect(json["status"] == "IN_QUEUE")
                return json["id"]?.stringValue ?? ""
            }
            let quick: JSONValue = ["input": ScriptedExecutor.job([("1", "TestText", ["text": "q"])])]
            let second = try await client.execute(uri: "/run", method: .post, body: Self.body(quick)) { response in
                Self.parse(response)["id"]?.stringValue ?? ""
            }
            try await client.execute(uri: "/status/\(second)", method: .get) { response in
                #expect(Self.parse(response)["status"] == "IN_QUEUE")
            }
            try await Task.sleep(for: .milliseconds(200))
            try await client.execute(uri: "/status/\(id)", method: .post) { response in
                #expect(Self.parse(response)["status"] == "IN_PROGRESS")
            }
            try await client.execute(uri: "/health", method: .get) { response in
                let json = Self.parse(response)
                #expect(json["jobs"]?["inProgress"] == 1)
                #expect(json["jobs"]?["inQueue"] == 1)
                #expect(json["workers"]?["running"] == 1)
            }
            try await client.execute(uri: "/cancel/\(id)", method: .post) { response in
                #expect(Self.parse(response)["status"] == "CANCELLED")
            }
            var status: JSONValue = .null
            for _ in 0..<100 {
                status = try await client.execute(uri: "/status/\(second)", method: .get) { Self.parse($0) }
                if status["status"] == "COMPLETED" { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(status["status"] == "COMPLETED")
            #expect(status["delayTime"]?.numberValue != nil)
            try await client.execute(uri: "/status/\(id)", method: .get) { response in
                let json = Self.parse(response)
                #expect(json["status"] == "CANCELLED")
                #expect(json["output"] == nil)
            }
            try await client.execute(uri: "/status/nope", method: .get) { response in
                #expect(response.status == .notFound)
            }
            try await client.execute(uri: "/cancel/nope", method: .post) { response in
                #expect(response.status == .notFound)
            }
        }
    }

    @Test func readyReflectsStartupAndBacklog() async throws {
        try await app(api(readiness: { Readiness(ready: false, reasons: ["ComfyUI is starting"]) })).test(.router) {
            client in
            try await client.execute(uri: "/ready", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(Self.parse(response)["reasons"] == ["ComfyUI is starting"])
            }
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .ok)
            }
        }
        try await app(api(maxBacklog: 1)).test(.router) { client in
            try await client.execute(uri: "/ready", method: .get) { response in
                #expect(response.status == .ok)
                #expect(Self.parse(response)["ready"] == true)
            }
            let slow: JSONValue = ["input": ScriptedExecutor.job([("1", "TestSleep", ["seconds": 5])])]
            let id = try await client.execute(uri: "/run", method: .post, body: Self.body(slow)) {
                Self.parse($0)["id"]?.stringValue ?? ""
            }
            try await client.execute(uri: "/ready", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
            }
            try await client.execute(uri: "/cancel/\(id)", method: .post) { _ in }
        }
    }

    /// After an intended change: `COMFYLOCK_UPDATE_GOLDEN=1 swift test --filter openAPIDocumentIsServedAndCommitted`.
    @Test func openAPIDocumentIsServedAndCommitted() async throws {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/openapi.json")
        if ProcessInfo.processInfo.environment["COMFYLOCK_UPDATE_GOLDEN"] == "1" {
            try Data((OpenAPIDocument.json.trimmingCharacters(in: .newlines) + "\n").utf8).write(to: file)
        }
        let committed = try String(contentsOf: file, encoding: .utf8)
        try await app(api()).test(.router) { client in
            try await client.execute(uri: "/openapi.json", method: .get) { response in
                let served = String(buffer: response.body)
                #expect(served.trimmingCharacters(in: .newlines) == committed.trimmingCharacters(in: .newlines))
                let json = try JSONParser.parse(served)
                #expect(json["openapi"] == "3.1.0")
                let paths = Set(json["paths"]?.objectValue?.keys.map { $0 } ?? [])
                #expect(
                    paths == [
                        "/runsync", "/run", "/status/{id}", "/cancel/{id}", "/health", "/ready", "/metrics",
                        "/openapi.json",
                    ])
            }
        }
    }

    @Test func liveSocket() async throws {
        try await app(api()).test(.live) { client in
            let ok: JSONValue = ["input": ScriptedExecutor.job([("1", "TestText", ["text": "over tcp"])])]
            try await client.execute(uri: "/runsync", method: .post, body: Self.body(ok)) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/json")
                #expect(Self.parse(response)["output"]?["outputs"]?.arrayValue?.first?["text"] == "over tcp")
            }
        }
    }
}
