import ComfyCrypto
import ComfyLock
import Foundation
import Testing

@testable import ComfyHandler

/// The one rule set for job inputs: every malformed shape gets a structured error naming the path.
@Suite struct JobValidatorTests {
    static let graph: JSONValue = [
        "1": ["class_type": "EmptyImage", "inputs": ["width": 64, "height": 64, "batch_size": 1, "color": 0]],
        "2": ["class_type": "SaveImage", "inputs": ["images": ["1", 0], "filename_prefix": "probe"]],
    ]
    static let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 1, 2, 3]

    func details(_ input: JSONValue?, validator: JobValidator = JobValidator()) -> [ValidationDetail] {
        switch validator.validate(input) {
        case .success: return []
        case .failure(let failure):
            #expect(failure.kind == .validation)
            #expect(!failure.retryable)
            return failure.details
        }
    }

    func paths(_ input: JSONValue?, validator: JobValidator = JobValidator()) -> [String] {
        details(input, validator: validator).map(\.path)
    }

    @Test func workerComfyUIInputWorksUnchanged() throws {
        let input: JSONValue = [
            "workflow": Self.graph,
            "images": [["name": "in.png", "image": .string(Data(Self.png).base64EncodedString())]],
        ]
        let job = try JobValidator().validate(input).get()
        #expect(job.workflow.count == 2)
        #expect(job.files == [InputFile(name: "in.png", source: .data(Self.png), path: "input.images[0]")])
        #expect(job.output.mode == .base64)
        #expect(job.timeout == .seconds(600))
    }

    @Test func dataURIAndSHA256() throws {
        let b64 = Data(Self.png).base64EncodedString()
        let good = SHA256.hash(Self.png).hex
        let job = try JobValidator().validate([
            "workflow": Self.graph,
            "images": [["name": "a.png", "image": .string("data:image/png;base64," + b64), "sha256": .string(good)]],
        ]).get()
        #expect(job.files.first?.source == .data(Self.png))
        let bad = paths([
            "workflow": Self.graph,
            "images": [["name": "a.png", "image": .string(b64), "sha256": .string(String(repeating: "0", count: 64))]],
        ])
        #expect(bad == ["input.images[0].sha256"])
    }

    @Test func notAnObjectOrMissing() {
        #expect(paths(nil) == ["input"])
        #expect(paths("text") == ["input"])
        #expect(paths([1, 2]) == ["input"])
        #expect(details("text").first?.message.contains("must be a JSON object") == true)
        #expect(paths([:]) == ["input.workflow"])
    }

    @Test func emptyAndMalformedWorkflows() {
        #expect(paths(["workflow": [:]]) == ["input.workflow"])
        #expect(paths(["workflow": 3]) == ["input.workflow"])
        #expect(paths(["workflow": ["1": ["inputs": [:]]]]) == ["input.workflow.\"1\".class_type"])
        #expect(paths(["workflow": ["1": "x"]]) == ["input.workflow.\"1\""])
        #expect(paths(["workflow": ["1": ["class_type": "A", "inputs": 4]]]) == ["input.workflow.\"1\".inputs"])
    }

    @Test func workflowAsJSONTextIsAccepted() throws {
        let text = String(decoding: CanonicalJSON.encode(Self.graph), as: UTF8.self)
        let job = try JobValidator().validate(["workflow": .string(text)]).get()
        #expect(job.workflow.count == 2)
        #expect(paths(["workflow": "not json"]) == ["input.workflow"])
    }

    @Test func uiFormatWorkflowIsRefusedWithTheFix() {
        let ui: JSONValue = ["last_node_id": 3, "nodes": [["id": 1, "type": "EmptyImage"]], "links": []]
        let found = details(["workflow": ui])
        #expect(found.map(\.path) == ["input.workflow"])
        #expect(found.first?.message.contains("UI-format") == true)
        #expect(found.first?.message.contains("API") == true)
    }

    @Test func unknownMembersAndBothWorkflowForms() {
        #expect(paths(["workflow": Self.graph, "overides": [:]]) == ["input.\"overides\""])
        #expect(paths(["workflow": Self.graph, "workflow_name": "x"]) == ["input.workflow_name"])
    }

    @Test func workflowNameFromTheLock() throws {
        let validator = JobValidator(namedWorkflows: ["probe": Self.graph])
        let job = try validator.validate(["workflow_name": "probe"]).get()
        #expect(job.workflowName == "probe")
        #expect(job.workflow.count == 2)
        let missing = details(["workflow_name": "nope"], validator: validator)
        #expect(missing.map(\.path) == ["input.workflow_name"])
        #expect(missing.first?.message.contains("\"probe\"") == true)
        #expect(paths(["workflow_name": 1], validator: validator) == ["input.workflow_name"])
    }

    @Test func badBase64() {
        #expect(
            paths(["workflow": Self.graph, "images": [["name": "a.png", "image": "!!!notbase64!!!"]]])
                == ["input.images[0].image"])
        #expect(
            paths(["workflow": Self.graph, "images": [["name": "a.png", "image": "data:image/png,abc"]]])
                == ["input.images[0].image"])
        #expect(
            paths(["workflow": Self.graph, "images": [["name": "a.png", "image": ""]]]) == ["input.images[0].image"])
        #expect(paths(["workflow": Self.graph, "images": [["name": "a.png"]]]) == ["input.images[0].image"])
        #expect(paths(["workflow": Self.graph, "images": "x"]) == ["input.images"])
    }

    @Test(arguments: ["../x.png", "a/b.png", "..", "a\\b", "x\u{0}y", "new\nline", ".hidden", "", "  "])
    func unsafeInputNames(name: String) {
        let b64 = Data(Self.png).base64EncodedString()
        let found = paths(["workflow": Self.graph, "images": [["name": .string(name), "image": .string(b64)]]])
        #expect(found == ["input.images[0].name"])
    }

    @Test func duplicateNamesAcrossImagesAndInputs() {
        let b64 = Data(Self.png).base64EncodedString()
        let found = paths([
            "workflow": Self.graph, "images": [["name": "a.png", "image": .string(b64)]],
            "inputs": [["name": "a.png", "data": .string(b64)]],
        ])
        #expect(found == ["input.inputs[0].name"])
    }

    @Test func oversizeInputsAreRefusedByConfigurableCaps() {
        let limits = JobLimits(maxInlineInputBytes: 16, maxInputCount: 2)
        let validator = JobValidator(limits: limits)
        let big = Data(repeating: 7, count: 12).base64EncodedString()
        let found = details(
            [
                "workflow": Self.graph,
                "images": [["name": "a.png", "image": .string(big)], ["name": "b.png", "image": .string(big)]],
            ], validator: validator)
        #expect(found.map(\.path) == ["input"])
        #expect(found.first?.message.contains("at most 16") == true)
        let huge = Data(repeating: 7, count: 64).base64EncodedString()
        #expect(
            paths(
                ["workflow": Self.graph, "images": [["name": "a.png", "image": .string(huge)]]], validator: validator)
                == ["input.images[0].image"])
        let many: JSONValue = .array((0..<3).map { .object(["name": .string("f\($0)"), "data": "AAAA"]) })
        #expect(paths(["workflow": Self.graph, "inputs": many], validator: validator) == ["input"])
    }

    @Test(arguments: [
        "http://127.0.0.1/x.png", "http://localhost:8188/x", "http://10.1.2.3/x", "http://192.168.0.1/x",
        "http://172.16.5.5/x", "http://169.254.169.254/latest/meta-data", "http://[::1]/x", "http://[fe80::1]/x",
        "http://[fd00::1]/x", "http://[::ffff:127.0.0.1]/x", "http://0.0.0.0/x", "http://2130706433/x",
        "http://0x7f.0.0.1/x", "http://metadata.google.internal/x", "http://100.64.0.1/x", "ftp://example.com/x",
        "file:///etc/passwd", "http://user:pw@example.com/x",
    ])
    func privateAndOddURLsAreRefused(url: String) {
        let found = paths(["workflow": Self.graph, "inputs": [["name": "a.png", "url": .string(url)]]])
        #expect(found == ["input.inputs[0].url"])
    }

    @Test func publicURLsAndAllowedPrivateURLs() throws {
        let public1 = try JobValidator().validate([
            "workflow": Self.graph, "inputs": [["name": "a.png", "url": "https://example.com/a.png"]],
        ]).get()
        #expect(public1.files.first?.source == .url(URL(string: "https://example.com/a.png")!))
        let allowed = JobValidator(limits: JobLimits(allowPrivateURLs: true))
        _ = try allowed.validate([
            "workflow": Self.graph, "inputs": [["name": "a.png", "url": "http://127.0.0.1:9/a"]],
        ])
        .get()
        #expect(paths(["workflow": Self.graph, "inputs": [["name": "a.png"]]]) == ["input.inputs[0]"])
        #expect(
            paths(["workflow": Self.graph, "inputs": [["name": "a.png", "url": "https://e.com/a", "data": "AAAA"]]])
                == ["input.inputs[0]"])
        #expect(
            paths(["workflow": Self.graph, "inputs": [["name": "a.png", "url": "https://e.com/a", "sha256": "xyz"]]])
                == ["input.inputs[0].sha256"])
    }

    @Test func outputTimeoutAndOverrides() throws {
        let job = try JobValidator(gcsAvailable: true).validate([
            "workflow": Self.graph, "output": ["mode": "gcs", "prefix": "runs/a", "sign_expires": 600],
            "timeout_s": 30, "overrides": ["1.width": 128, "2.filename_prefix": "x"],
        ]).get()
        #expect(job.output == OutputRequest(mode: .gcs, prefix: "runs/a", signExpires: .seconds(600)))
        #expect(job.timeout == .seconds(30))
        #expect(job.workflow["1"]?["inputs"]?["width"] == 128)
        #expect(job.workflow["2"]?["inputs"]?["filename_prefix"] == "x")
        #expect(job.overrides.count == 2)

        #expect(paths(["workflow": Self.graph, "output": ["mode": "gcs"]]) == ["input.output.mode"])
        #expect(paths(["workflow": Self.graph, "output": ["mode": "s3"]]) == ["input.output.mode"])
        #expect(paths(["workflow": Self.graph, "output": ["prefix": "../up"]]) == ["input.output.prefix"])
        #expect(paths(["workflow": Self.graph, "output": ["sign_expires": 0]]) == ["input.output.sign_expires"])
        #expect(paths(["workflow": Self.graph, "timeout_s": -1]) == ["input.timeout_s"])
        #expect(paths(["workflow": Self.graph, "timeout_s": 99999]) == ["input.timeout_s"])
        #expect(paths(["workflow": Self.graph, "overrides": ["9.width": 1]]) == ["input.overrides.\"9.width\""])
        #expect(paths(["workflow": Self.graph, "overrides": ["1.depth": 1]]) == ["input.overrides.\"1.depth\""])
        #expect(paths(["workflow": Self.graph, "overrides": ["width": 1]]) == ["input.overrides.\"width\""])
        #expect(paths(["workflow": Self.graph, "overrides": ["1.width": ["a": 1]]]) == ["input.overrides.\"1.width\""])
    }

    @Test func everyProblemIsReportedAtOnce() {
        let found = paths(["workflow": [:], "images": [["name": "../a", "image": "@@"]], "timeout_s": "x"])
        #expect(found.count == 4)
        #expect(Set(found) == ["input.workflow", "input.images[0].name", "input.images[0].image", "input.timeout_s"])
    }

    @Test func structuredErrorDocument() {
        let failure = JobFailure.validation(path: "input.workflow", "is empty")
        let json = failure.json
        #expect(json["error"] == "validation")
        #expect(json["retryable"] == false)
        #expect(json["details"] == [["path": "input.workflow", "message": "is empty"]])
        #expect(json["message"]?.stringValue?.contains("input.workflow") == true)
    }

    @Test func hostileStringsAreEscapedInMessages() {
        let found = details(["workflow": Self.graph, "images": [["name": "a\u{1B}[31mred/x", "image": "AAAA"]]])
        let message = found.first?.message ?? ""
        #expect(!message.contains("\u{1B}"))
        #expect(message.contains("\\u{1b}"))
    }

    @Test func jobIDs() {
        #expect(JobID.isSafe("abc-123_x.y:z"))
        #expect(!JobID.isSafe(""))
        #expect(!JobID.isSafe(".."))
        #expect(!JobID.isSafe("a/b"))
        #expect(!JobID.isSafe(String(repeating: "a", count: 129)))
        #expect(JobID.isSafe(JobID.make()))
    }
}
