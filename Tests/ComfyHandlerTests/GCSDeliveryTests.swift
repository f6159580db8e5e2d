import ComfyCrypto
import ComfyGCS
import ComfyLock
import ComfyServer
import ComfyTransport
import Foundation
import Logging
import TestSupport
import Testing

@testable import ComfyHandler

#if canImport(Glibc)
    import Glibc
#endif

/// GCS delivery against the real GCS emulator (gcp-storage-emulator from the test venv), read back with Google's
/// own Python client (google-cloud-storage), with the ComfyUI stand-in producing the files. Only real GCS (IAM,
/// real signatures checked by Google) cannot run here; the emulator serves a signed URL's path without checking it.
@Suite(.serialized) struct GCSDeliveryTests {
    static let keyFile = TestPaths.repositoryRoot.appendingPathComponent(
        "Tests/Fixtures/vectors/gcs/test_service_account.not-a-test.json")

    /// The emulator, in memory, bucket `test-bucket`, on a port it binds itself (TestSupport's `GCSEmulator`).
    typealias Emulator = GCSEmulator

    static func configuration(_ emulator: Emulator, home: URL) -> GCSConfiguration {
        GCSConfiguration(
            bucket: "test-bucket", prefix: "outputs/", credentialsPath: keyFile.path, emulatorHost: emulator.url,
            homeDirectory: home.path)
    }

    /// Reads `object` back with google-cloud-storage: its metadata and the SHA-256 of the bytes it downloads.
    static func readBack(_ object: String, emulator: Emulator) throws -> (size: Int64, crc32c: String, sha256: String)?
    {
        let script = """
            import hashlib, json, sys
            from google.cloud import storage
            blob = storage.Client(project="test").bucket("test-bucket").get_blob(sys.argv[1])
            if blob is None:
                print("null")
            else:
                data = blob.download_as_bytes()
                print(json.dumps({"size": blob.size, "crc32c": blob.crc32c, "sha256": hashlib.sha256(data).hexdigest()}))
            """
        let result = try Subprocess.run(
            TestPaths.python.path, ["-c", script, object], environment: ["STORAGE_EMULATOR_HOST": emulator.url])
        guard result.status == 0 else { throw StartupError("google-cloud-storage failed: \(result.standardError)") }
        let json = try JSONParser.parse(result.standardOutput)
        guard let size = json["size"]?.numberValue, let crc = json["crc32c"]?.stringValue,
            let sha = json["sha256"]?.stringValue
        else { return nil }
        return (Int64(size), crc, sha)
    }

    static func deleteObject(_ object: String, emulator: Emulator) throws {
        let script = """
            import sys
            from google.cloud import storage
            storage.Client(project="test").bucket("test-bucket").blob(sys.argv[1]).delete()
            """
        let result = try Subprocess.run(
            TestPaths.python.path, ["-c", script, object], environment: ["STORAGE_EMULATOR_HOST": emulator.url])
        #expect(result.status == 0, "\(result.standardError)")
    }

    static let twoOutputs: JSONValue = [
        "1": ["class_type": "EmptyImage", "inputs": ["width": 16, "height": 16, "batch_size": 1, "color": 255]],
        "2": ["class_type": "SaveImage", "inputs": ["images": ["1", 0], "filename_prefix": "first"]],
        "3": ["class_type": "StandInSleep", "inputs": ["value": ["1", 0], "seconds": 1]],
        "4": ["class_type": "ImageInvert", "inputs": ["image": ["3", 0]]],
        "5": ["class_type": "SaveImage", "inputs": ["images": ["4", 0], "filename_prefix": "second"]],
    ]

    static func promptsExecuted(_ comfy: ComfyUIStandIn) async throws -> Int {
        let response = try await HTTPClient.shared.send(
            HTTPRequest(url: comfy.baseURL.appendingPathComponent("standin/stats"), useEnvironmentCredentials: false),
            retry: RetryPolicy.none)
        return Int(try JSONParser.parse(response.body)["prompts_executed"]?.numberValue ?? -1)
    }

    @Test func jobOutputsGoToDeterministicObjectsReadBackByGooglesClient() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let emulator = try Emulator(logDirectory: dir.url)
        defer { emulator.stop() }
        let comfy = try ComfyUIStandIn.start()
        defer { comfy.stop() }
        var options = WorkerOptions(comfyUIURL: comfy.baseURL.absoluteString, scratch: dir.appending("scratch").path)
        options.volume = WorkerVolume(mountPoint: dir.appending("no-volume").path)
        options.gcs = Self.configuration(emulator, home: dir.url)
        let worker = try await WorkerStartup.prepare(options, logger: Logger(label: "t"))
        defer { Task { await worker.shutdown() } }

        let input: JSONValue = [
            "workflow": Self.twoOutputs, "output": ["mode": "gcs", "prefix": "team-a", "sign_expires": 600],
        ]
        guard case .completed(let first) = await worker.runner.run(id: "gcs-job-1", input: input) else {
            Issue.record("the GCS job failed")
            return
        }
        #expect(first.outputs.count == 2)
        for output in first.outputs {
            guard case .gcs(let uri, let url) = output.payload else {
                Issue.record("not delivered to GCS: \(output)")
                continue
            }
            let object = "outputs/team-a/gcs-job-1/\(output.nodeID)/\(output.filename ?? "")"
            #expect(uri == "gs://test-bucket/" + object)
            let read = try #require(try Self.readBack(object, emulator: emulator), "\(object) is not in the bucket")
            #expect(read.sha256 == output.sha256, "the bytes Google's client reads are the job's output")
            #expect(read.size == output.size)
            // A V4 signed URL for this object on the emulator, valid for the job's 600 s.
            let signed = try #require(url)
            #expect(signed.contains("X-Goog-Algorithm=GOOG4-RSA-SHA256") && signed.contains("X-Goog-Expires=600"))
            let fetched = try await HTTPClient.shared.send(
                HTTPRequest(url: URL(string: signed)!, useEnvironmentCredentials: false), retry: RetryPolicy.none)
            #expect(SHA256.hash(fetched.body).hex == output.sha256)
        }
        #expect(
            first.json["outputs"]?.arrayValue?.first?["gcs_uri"]?.stringValue?.hasPrefix("gs://test-bucket/") == true)
        // The completion record sits beside the outputs.
        let marker = try #require(try Self.readBack("outputs/team-a/gcs-job-1/_complete.json", emulator: emulator))
        #expect(marker.size > 0)

        // RunPod delivers at least once: the same id and input again is answered from the existing objects,
        // without running anything on ComfyUI, with freshly signed URLs.
        let executed = try await Self.promptsExecuted(comfy)
        guard case .completed(let again) = await worker.runner.run(id: "gcs-job-1", input: input) else {
            Issue.record("the re-delivered job failed")
            return
        }
        #expect(try await Self.promptsExecuted(comfy) == executed, "nothing was recomputed")
        #expect(again.promptID == first.promptID)
        #expect(again.outputs.map(\.sha256) == first.outputs.map(\.sha256))
        #expect(
            again.outputs.allSatisfy {
                if case .gcs(_, let url?) = $0.payload { return !url.isEmpty } else { return false }
            })

        // The same id with another input is refused, not answered with someone else's objects.
        let other: JSONValue = [
            "workflow": Self.twoOutputs, "output": ["mode": "gcs", "prefix": "team-a", "sign_expires": 600],
            "overrides": ["1.width": 24],
        ]
        let refused = try #require(await worker.runner.run(id: "gcs-job-1", input: other).failure)
        #expect(refused.kind == .validation)
        #expect(refused.message.contains("already completed with another input"), "\(refused.message)")

        // An object that disappeared: the job runs again and the object is back.
        let lost = "outputs/team-a/gcs-job-1/5/\(first.outputs[1].filename ?? "")"
        try Self.deleteObject(lost, emulator: emulator)
        guard case .completed = await worker.runner.run(id: "gcs-job-1", input: input) else {
            Issue.record("the job did not run again")
            return
        }
        #expect(try await Self.promptsExecuted(comfy) > executed)
        #expect(try Self.readBack(lost, emulator: emulator) != nil)
    }

    /// The session starts an upload when an output is handed to it (as its node finishes), not when the graph is
    /// done: the object is in the bucket before `finish` is called.
    @Test func aStreamingSessionUploadsBeforeTheGraphIsDone() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let emulator = try Emulator(logDirectory: dir.url)
        defer { emulator.stop() }
        let client = try GCSClient(configuration: Self.configuration(emulator, home: dir.url))
        let delivery = GCSDelivery(client: client)
        let file = dir.appending("early.png")
        let bytes = [UInt8]((0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        try Data(bytes).write(to: file)
        let produced = ProducedOutput(
            nodeID: "9", classType: "SaveImage", kind: .image, filename: "early.png", mediaType: "image/png",
            size: Int64(bytes.count), sha256: SHA256.hash(bytes).hex, localPath: file.path)
        let request = OutputRequest(mode: .gcs)
        let session = try #require(delivery.session(jobID: "stream-job", request: request))
        session.add(produced)
        var seen: GCSObjectMetadata?
        let deadline = ContinuousClock.now + .seconds(60)
        while seen == nil && ContinuousClock.now < deadline {
            seen = try await client.objectMetadata("outputs/stream-job/9/early.png")
            if seen == nil { try await Task.sleep(for: .milliseconds(100)) }
        }
        let metadata = try #require(seen, "the upload did not start when the output was handed over")
        #expect(metadata.size == Int64(bytes.count))
        let delivered = try await session.finish([produced])
        #expect(delivered.count == 1)
        // Uploaded once: finish reused the running upload (same generation).
        #expect(try await client.objectMetadata("outputs/stream-job/9/early.png")?.generation == metadata.generation)
        #expect(
            try await client.objectMetadata("outputs/stream-job/_complete.json") == nil, "no record before complete")
    }

    @Test func credentialsNeverComeFromTheJob() async throws {
        let validator = JobValidator(gcsAvailable: true)
        guard
            case .failure(let failure) = validator.validate([
                "workflow": Self.twoOutputs,
                "output": ["mode": "gcs", "credentials": ["type": "service_account", "private_key": "x"]],
            ])
        else {
            Issue.record("a job carrying credentials was accepted")
            return
        }
        #expect(
            failure.details.contains { $0.path.hasPrefix("input.output.") && $0.message.contains("unknown member") })
        // Without a configured bucket, gcs is refused at validation.
        guard
            case .failure(let off) = JobValidator().validate(["workflow": Self.twoOutputs, "output": ["mode": "gcs"]])
        else {
            Issue.record("gcs accepted without configuration")
            return
        }
        #expect(off.details.contains { $0.path == "input.output.mode" })
    }
}
