import ComfyLock
import ComfyServer
import Foundation
import Testing

@Suite("Workflow and events")
struct WorkflowTests {
    @Test("an API-format graph parses; links and class types are read")
    func apiFormat() throws {
        let workflow = try Workflows.parse(Workflows.probe)
        #expect(workflow.nodeIDs == ["1", "2", "3"])
        #expect(workflow["3"]?.classType == "SaveImage")
        #expect(workflow["2"]?.link("image")?.node == "1")
        #expect(workflow["2"]?.link("image")?.output == 0)
    }

    @Test("a UI-format workflow is refused with the way to export the API format")
    func uiFormatRefused() throws {
        let ui = #"{"last_node_id":3,"nodes":[{"id":1,"type":"EmptyImage"}],"links":[],"version":0.4}"#
        let error = try #require(throws: ComfyUIError.self) { try Workflows.parse(ui) }
        #expect(error.kind == .invalidWorkflow)
        #expect(error.message.contains("UI-format"))
        #expect(error.message.contains("Export (API)"))
    }

    @Test("not a graph, a node without class_type, a dangling link and bad JSON are named errors")
    func malformed() throws {
        let cases: [(String, String)] = [
            ("[1,2]", "JSON object"),
            (#"{"1":{"inputs":{}}}"#, "node 1 has no class_type"),
            (#"{"1":{"class_type":"SaveImage","inputs":{"images":["9",0]}}}"#, "links to missing node 9"),
            (#"{"1":{"class_type":"SaveImage","inputs":[]}}"#, "inputs must be an object"),
            (#"{"1": "#, "not valid JSON"),
            ("{}", "no nodes"),
        ]
        for (text, expected) in cases {
            let error = try #require(throws: ComfyUIError.self) { try Workflows.parse(text) }
            #expect(error.message.contains(expected), "\(text): \(error.message)")
        }
    }

    @Test("a {\"prompt\": graph} wrapper is unwrapped; setInput changes the JSON sent")
    func wrapperAndSetInput() throws {
        var workflow = try Workflows.parse(#"{"prompt":"# + Workflows.probe + "}")
        #expect(workflow.nodes.count == 3)
        try workflow.setInput(node: "3", "filename_prefix", to: "changed")
        #expect(workflow.json["3"]?["inputs"]?["filename_prefix"] == "changed")
        #expect(throws: ComfyUIError.self) { try workflow.setInput(node: "99", "x", to: 1) }
    }

    @Test("WebSocket messages become typed events")
    func events() {
        #expect(
            ComfyUIEvent.parse(#"{"type":"executing","data":{"node":null,"prompt_id":"p"}}"#)
                == .executing(promptID: "p", node: nil))
        #expect(
            ComfyUIEvent.parse(#"{"type":"progress","data":{"value":3,"max":20,"prompt_id":"p","node":"5"}}"#)
                == .progress(promptID: "p", node: "5", value: 3, max: 20))
        #expect(
            ComfyUIEvent.parse(#"{"type":"execution_cached","data":{"nodes":["1","2"],"prompt_id":"p"}}"#)
                == .executionCached(promptID: "p", nodes: ["1", "2"]))
        #expect(
            ComfyUIEvent.parse(
                #"{"type":"execution_error","data":{"prompt_id":"p","node_id":"2","node_type":"X","exception_type":"E","exception_message":"m"}}"#
            ) == .executionError(promptID: "p", node: "2", classType: "X", exceptionType: "E", message: "m"))
        #expect(
            ComfyUIEvent.parse(#"{"type":"status","data":{"status":{"exec_info":{"queue_remaining":2}},"sid":"s"}}"#)
                == .status(queueRemaining: 2, sessionID: "s"))
        #expect(ComfyUIEvent.parse(#"{"type":"crystools.monitor","data":{}}"#) == .other(type: "crystools.monitor"))
        #expect(ComfyUIEvent.parse("not json") == nil)
    }

    @Test("PNG chunk hashing ignores text and time chunks, and rejects malformed files")
    func pngChunks() {
        func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
            let n = UInt32(data.count)
            return [UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)] + Array(type.utf8)
                + data + [0, 0, 0, 0]
        }
        let ihdr = chunk("IHDR", [0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0])
        let idat = chunk("IDAT", [1, 2, 3])
        let end = chunk("IEND", [])
        let plain = PNGChunks.signature + ihdr + idat + end
        let tagged =
            PNGChunks.signature + ihdr + chunk("tEXt", Array("prompt\0{}".utf8)) + chunk("tIME", [1, 2])
            + idat + end
        let other = PNGChunks.signature + ihdr + chunk("IDAT", [1, 2, 4]) + end
        #expect(PNGChunks.imageDataSHA256(of: plain) != nil)
        #expect(PNGChunks.imageDataSHA256(of: plain) == PNGChunks.imageDataSHA256(of: tagged))
        #expect(PNGChunks.imageDataSHA256(of: plain) != PNGChunks.imageDataSHA256(of: other))
        #expect(PNGChunks.textMetadata(of: tagged) == ["prompt": "{}"])
        #expect(PNGChunks.imageDataSHA256(of: Array(plain.dropLast(3))) == nil, "truncated: no IEND")
        #expect(PNGChunks.imageDataSHA256(of: Array("GIF89a".utf8)) == nil)
    }

    @Test("output kinds and media types from UI keys and names")
    func classify() {
        #expect(WorkflowOutput.classify(key: "images", filename: "a.png") == (.image, "image/png"))
        #expect(
            WorkflowOutput.classify(key: "gifs", filename: "a.mp4", format: "video/h264-mp4") == (
                .video, "video/h264-mp4"
            ))
        #expect(WorkflowOutput.classify(key: "gifs", filename: "a.gif") == (.video, "image/gif"))
        #expect(WorkflowOutput.classify(key: "audio", filename: "a.flac") == (.audio, "audio/flac"))
        #expect(WorkflowOutput.classify(key: "3d", filename: "m.glb") == (.file, "model/gltf-binary"))
        #expect(WorkflowOutput.classify(key: "images", filename: "v.webm") == (.video, "video/webm"))
    }

    @Test("restart backoff doubles and is capped")
    func backoff() {
        let policy = ComfyUISupervisor.RestartPolicy(initialDelay: .milliseconds(100), maxDelay: .milliseconds(350))
        #expect(policy.delay(afterCrashes: 1) == .milliseconds(100))
        #expect(policy.delay(afterCrashes: 2) == .milliseconds(200))
        #expect(policy.delay(afterCrashes: 3) == .milliseconds(350))
        #expect(policy.delay(afterCrashes: 10) == .milliseconds(350))
    }
}
