import ComfyCrypto
import ComfyLock
import ComfyServer
import ComfyTransport
import Foundation
import TestSupport
import Testing

/// WorkflowRunner and ComfyUIClient against the ComfyUI stand-in (a real server process, real PNG/GIF/WAV files,
/// a real WebSocket).
@Suite("WorkflowRunner on the stand-in", .serialized)
struct RunnerTests {
    func runner(_ standIn: ComfyUIStandIn) -> WorkflowRunner {
        WorkflowRunner(client: ComfyUIClient(baseURL: standIn.baseURL))
    }

    @Test("client basics: system stats, object_info with python_module, model lists, queue, upload and view")
    func clientBasics() async throws {
        let standIn = try ComfyUIStandIn.start(models: ["checkpoints/sd15.safetensors", "loras/a/b.safetensors"])
        defer { standIn.stop() }
        let client = ComfyUIClient(baseURL: standIn.baseURL)
        let stats = try await client.systemStats()
        #expect(stats.ramTotal > 0)
        #expect(stats.deviceType == "cpu")
        let info = try await client.objectInfo()
        #expect(info.contains("SaveImage"))
        #expect(info.pythonModule(of: "VHS_VideoCombine") == "custom_nodes.ComfyUI-VideoHelperSuite")
        #expect(info.isOutputNode("SaveImage"))
        #expect(try await client.models().contains("checkpoints"))
        #expect(try await client.models(folder: "checkpoints") == ["sd15.safetensors"])
        #expect(try await client.models(folder: "loras") == ["a/b.safetensors"])
        #expect(try await client.models(folder: "no-such-folder") == nil)
        #expect(try await client.queue() == QueueState(running: [], pending: []))
        let stored = try await client.uploadImage(Array("bytes".utf8), name: "up.png")
        #expect(stored == FileReference(filename: "up.png", subfolder: "", type: "input"))
        #expect(try await client.view(stored) == Array("bytes".utf8))
        await #expect(throws: ComfyUIError.self) { try await client.uploadImage([1], name: "../evil.png") }
    }

    @Test("every output kind comes back with sizes and hashes matching the files ComfyUI wrote; temp is skipped")
    func everyKind() async throws {
        let standIn = try ComfyUIStandIn.start()
        defer { standIn.stop() }
        let out = try TemporaryDirectory()
        defer { out.remove() }
        let result = try await runner(standIn).run(
            try Workflows.parse(Workflows.everyKind), options: WorkflowRunOptions(outputDirectory: out.path))
        let kinds = result.outputs.map { "\($0.nodeID):\($0.kind.rawValue):\($0.mediaType)" }
        #expect(
            kinds == [
                "2:image:image/png", "2:image:image/png", "3:video:image/gif", "5:audio:audio/wav", "7:text:text/plain",
                "8:file:model/gltf-binary",
            ])
        #expect(!result.cached)
        for output in result.outputs where output.kind != .text {
            let written = standIn.outputDirectory.appendingPathComponent(output.subfolder)
                .appendingPathComponent(output.filename)
            let bytes = try [UInt8](Data(contentsOf: written))
            #expect(output.size == Int64(bytes.count))
            #expect(output.sha256 == SHA256.hash(bytes).hex)
            let local = try #require(output.localPath)
            #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: local))) == bytes)
            #expect(output.type == "output")
            if output.mediaType == "image/png" {
                #expect(output.imageDataSHA256 != nil && output.imageDataSHA256 != output.sha256)
                #expect(PNGChunks.textMetadata(of: bytes)["prompt"] != nil, "SaveImage embeds the prompt")
            }
        }
        let text = try #require(result.outputs.first { $0.kind == .text })
        #expect(text.text == "hello from a node")
        #expect(text.sha256 == SHA256.hash(Array("hello from a node".utf8)).hex)
        #expect(files(under: out.url).contains("kinds/anim_00001.gif"))

        // Previews are reported only when asked.
        var options = WorkflowRunOptions()
        options.includeTemporaryOutputs = true
        let again = try await runner(standIn).run(try Workflows.parse(Workflows.everyKind), options: options)
        #expect(again.outputs.contains { $0.type == "temp" && $0.nodeID == "9" })
    }

    @Test("an identical prompt is served from the cache: no new file, outputs still returned, cached = true")
    func cachedExecution() async throws {
        let standIn = try ComfyUIStandIn.start()
        defer { standIn.stop() }
        let workflow = try Workflows.parse(Workflows.probe)
        let first = try await runner(standIn).run(workflow)
        let before = files(under: standIn.outputDirectory)
        let second = try await runner(standIn).run(workflow)
        #expect(!first.cached)
        #expect(second.cached)
        #expect(Set(second.cachedNodes) == ["1", "2", "3"])
        #expect(files(under: standIn.outputDirectory) == before, "ComfyUI writes no new file for a cached prompt")
        #expect(second.outputs.map(\.sha256) == first.outputs.map(\.sha256))
        #expect(second.outputs.count == 1)
    }

    @Test("seeds change pixels; metadata alone changes the file hash but not the pixel hash")
    func pixelHashes() async throws {
        let standIn = try ComfyUIStandIn.start()
        defer { standIn.stop() }
        let one = try await runner(standIn).run(try Workflows.parse(Workflows.noise(seed: 1)))
        let two = try await runner(standIn).run(try Workflows.parse(Workflows.noise(seed: 2)))
        let oneAgain = try await runner(standIn).run(try Workflows.parse(Workflows.noise(seed: 1, prefix: "other")))
        #expect(one.outputs[0].imageDataSHA256 != two.outputs[0].imageDataSHA256)
        #expect(one.outputs[0].imageDataSHA256 == oneAgain.outputs[0].imageDataSHA256)
        #expect(one.outputs[0].sha256 != oneAgain.outputs[0].sha256, "the prompt in tEXt differs (prefix)")
    }

    @Test("validation before queueing: a missing class names the node and its provider; a missing model its folder")
    func validationBeforeQueueing() async throws {
        let standIn = try ComfyUIStandIn.start(models: ["checkpoints/present.safetensors"])
        defer { standIn.stop() }
        let missing = try Workflows.parse(
            #"{"1":{"class_type":"KSamplerAdvancedPlus","inputs":{}},"2":{"class_type":"SaveImage","inputs":{"images":["1",0]}}}"#
        )
        var options = WorkflowRunOptions()
        options.classProviders = ["KSamplerAdvancedPlus": "ComfyUI-Impact-Pack"]
        let error = try await #require(throws: ComfyUIError.self) {
            try await runner(standIn).run(missing, options: options)
        }
        #expect(error.kind == .validation)
        #expect(error.nodeID == "1")
        #expect(error.nodeErrors.first?.classType == "KSamplerAdvancedPlus")
        #expect(error.description.contains("ComfyUI-Impact-Pack"))

        let model = try Workflows.parse(
            #"{"1":{"class_type":"CheckpointLoaderSimple","inputs":{"ckpt_name":"absent.safetensors"}},"#
                + #""2":{"class_type":"PreviewAny","inputs":{"source":["1",0]}}}"#)
        let modelError = try await #require(throws: ComfyUIError.self) { try await runner(standIn).run(model) }
        #expect(modelError.kind == .validation)
        #expect(modelError.nodeErrors.first?.errors.first?.inputName == "ckpt_name")
        #expect(modelError.description.contains("checkpoints"))
        #expect(try await ComfyUIClient(baseURL: standIn.baseURL).queue().pending.isEmpty, "nothing was queued")

        let present = try Workflows.parse(
            #"{"1":{"class_type":"CheckpointLoaderSimple","inputs":{"ckpt_name":"present.safetensors"}},"#
                + #""2":{"class_type":"PreviewAny","inputs":{"source":["1",0]}}}"#)
        _ = try await runner(standIn).run(present)
    }

    @Test("ComfyUI's own 400 becomes node errors with node id, class type, input name and message")
    func serverValidation() async throws {
        let standIn = try ComfyUIStandIn.start()
        defer { standIn.stop() }
        let workflow = try Workflows.parse(
            #"{"1":{"class_type":"EmptyImage","inputs":{"width":0,"height":8,"batch_size":1,"color":0}},"#
                + #""3":{"class_type":"SaveImage","inputs":{"images":["1",0]}}}"#)
        var options = WorkflowRunOptions()
        options.validate = false
        let error = try await #require(throws: ComfyUIError.self) {
            try await runner(standIn).run(workflow, options: options)
        }
        #expect(error.kind == .validation)
        #expect(error.message.contains("Prompt outputs failed validation"))
        let node = try #require(error.nodeErrors.first)
        #expect(node.nodeID == "1")
        #expect(node.classType == "EmptyImage")
        #expect(node.errors.first?.inputName == "width")
        #expect(node.errors.first?.type == "value_smaller_than_min")
        #expect(node.dependentOutputs == ["3"])
    }

    @Test("an execution error names the node, its class and the exception")
    func executionError() async throws {
        let standIn = try ComfyUIStandIn.start()
        defer { standIn.stop() }
        let workflow = try Workflows.parse(Workflows.through("StandInFail", extra: #","message":"boom \u001b[31m""#))
        let error = try await #require(throws: ComfyUIError.self) { try await runner(standIn).run(workflow) }
        #expect(error.kind == .execution)
        #expect(error.nodeID == "2")
        #expect(error.classType == "StandInFail")
        #expect(error.message.contains("RuntimeError: boom"))
        #expect(!error.message.contains("\u{1B}"), "server text is escaped")
    }

    @Test("deleteHistory removes finished prompts' history entries in batches (success and failure), results complete")
    func deleteHistory() async throws {
        let standIn = try ComfyUIStandIn.start()
        defer { standIn.stop() }
        let client = ComfyUIClient(baseURL: standIn.baseURL)
        let runner = runner(standIn)
        // Default: ComfyUI keeps the entry (an interactive user's history is theirs).
        let kept = try await runner.run(try Workflows.parse(Workflows.noise(seed: 1)))
        #expect(try await client.history(promptID: kept.promptID) != nil)
        var options = WorkflowRunOptions()
        options.deleteHistory = true
        let out = try TemporaryDirectory()
        defer { out.remove() }
        options.outputDirectory = out.path
        // One job alone: its delete goes out within HistoryJanitor.delay (1 s), without a flush.
        let first = try await runner.run(try Workflows.parse(Workflows.noise(seed: 2)), options: options)
        let output = try #require(first.outputs.first)
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: try #require(output.localPath))))
        #expect(output.size == Int64(bytes.count) && output.sha256 == SHA256.hash(bytes).hex)
        #expect(first.history["outputs"]?["2"] != nil, "the result keeps the history it read")
        var gone = false
        for _ in 0..<40 where !gone {
            gone = try await client.history(promptID: first.promptID) == nil
            if !gone { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(gone, "the entry is deleted within a few seconds without a flush")
        // A failed prompt's entry goes too; a flush sends the pending batch at once.
        let failing = try Workflows.parse(Workflows.through("StandInFail", extra: #","message":"boom""#))
        let error = try await #require(throws: ComfyUIError.self) { try await runner.run(failing, options: options) }
        #expect(error.kind == .execution)
        let second = try await runner.run(try Workflows.parse(Workflows.noise(seed: 3)), options: options)
        await runner.flushHistoryDeletions()
        #expect(try await client.history(promptID: second.promptID) == nil)
        let response = try await HTTPClient.shared.send(
            HTTPRequest(url: standIn.baseURL.appendingPathComponent("history"), useEnvironmentCredentials: false),
            retry: RetryPolicy.none)
        let all = try JSONParser.parse(response.body)
        #expect(all.objectValue?.keys.sorted() == [kept.promptID], "only the entry of the run without the option")
        // ComfyUI ignores unknown ids; so does the client.
        try await client.deleteHistory(promptIDs: ["no-such-prompt"])
    }

    @Test("a silent socket (hang mode) never hangs the job: the watchdog finds it in /history")
    func silentSocket() async throws {
        let standIn = try ComfyUIStandIn.start(mode: .hang)
        defer { standIn.stop() }
        let log = EventLog()
        var options = WorkflowRunOptions()
        options.watchdogInterval = .milliseconds(200)
        options.socketConnectTimeout = .milliseconds(200)
        let result = try await runner(standIn).run(
            try Workflows.parse(Workflows.probe), options: options, events: log.handler)
        #expect(result.outputs.count == 1)
        #expect(log.all.contains(.watchdog(note: "found the finished prompt in /history")))
        #expect(!log.all.contains(.started), "the socket really said nothing")
    }

    @Test("the deadline interrupts a running prompt (attached: no restart)")
    func deadlineInterrupts() async throws {
        let standIn = try ComfyUIStandIn.start()
        defer { standIn.stop() }
        var options = WorkflowRunOptions()
        options.deadline = .seconds(3)
        options.interruptGrace = .seconds(5)
        let log = EventLog()
        let error = try await #require(throws: ComfyUIError.self) {
            try await runner(standIn).run(
                try Workflows.parse(Workflows.sleep(30)), options: options, events: log.handler)
        }
        #expect(error.kind == .timeout)
        #expect(error.message.contains("interrupted"))
        #expect(log.all.contains(.escalation(stage: "deadline reached: interrupting the prompt")))
        #expect(standIn.log.contains("Interrupting prompt"))
    }

    @Test("a prompt that ignores the interrupt fails after the grace period (attached: not restarted)")
    func deadlineGrace() async throws {
        let standIn = try ComfyUIStandIn.start()
        defer { standIn.stop() }
        var options = WorkflowRunOptions()
        options.deadline = .seconds(3)
        options.interruptGrace = .milliseconds(400)
        let error = try await #require(throws: ComfyUIError.self) {
            try await runner(standIn).run(try Workflows.parse(Workflows.through("StandInHang")), options: options)
        }
        #expect(error.kind == .timeout)
        #expect(error.message.contains("interrupt ignored"))
        #expect(!error.retryable)
    }

    @Test("inputs are uploaded and wired into the node that loads them")
    func inputs() async throws {
        let standIn = try ComfyUIStandIn.start()
        defer { standIn.stop() }
        let first = try await runner(standIn).run(try Workflows.parse(Workflows.noise(seed: 7)))
        let bytes = try await ComfyUIClient(baseURL: standIn.baseURL).view(
            FileReference(filename: first.outputs[0].filename))
        let workflow = try Workflows.parse(
            #"{"1":{"class_type":"LoadImage","inputs":{"image":"placeholder.png"}},"#
                + #""2":{"class_type":"SaveImage","inputs":{"images":["1",0],"filename_prefix":"loaded"}}}"#)
        let log = EventLog()
        let result = try await runner(standIn).run(
            workflow,
            inputs: [WorkflowInput(name: "seed7.png", source: .bytes(bytes), target: .init(node: "1", input: "image"))],
            events: log.handler)
        #expect(log.all.contains(.uploaded(name: "seed7.png")))
        #expect(result.outputs[0].imageDataSHA256 == first.outputs[0].imageDataSHA256, "the same pixels came back")
    }
}
