import ComfyCrypto
public import ComfyGCS
public import ComfyLock
import ComfySupport
import Foundation
public import Logging
import Synchronization

/// Delivery to Google Cloud Storage (ComfyGCS), per job:
///
/// - every file output is uploaded as soon as its node finishes (a streaming session fed by the executor), to the
///   deterministic object `<prefix>/<job prefix>/<job id>/<node id>/<filename>`, its size, CRC32C and MD5 checked
///   against the server's answer by `GCSClient.upload`; text outputs stay inline;
/// - when the result is complete, a completion record `<prefix>/<job prefix>/<job id>/_complete.json` holds the
///   result and the SHA-256 of the job's input, so a re-delivered job id (RunPod delivers at least once) is
///   answered from the existing objects — after checking each one is still there with the same generation and
///   CRC32C — instead of running again; the same id with another input is refused;
/// - `url` is a V4 signed URL valid for the job's `sign_expires` or the worker's default, signed afresh for every
///   answer; `null` when the configured credentials cannot sign (no service-account key);
/// - credentials come only from the worker's environment or the metadata server (`GCSConfiguration`): a job can
///   name none (`output` accepts only `mode`, `prefix`, `sign_expires`).
public struct GCSDelivery: OutputDelivering {
    /// The client (bucket, credentials, retries).
    public let client: GCSClient
    /// Signed URL lifetime when the job does not ask for one, in seconds (at most 7 days).
    public let defaultSignExpires: Int
    let canSign: Bool
    let logger: Logger

    /// The name of the completion record in each job's directory.
    public static let markerName = "_complete.json"

    /// A delivery over `client`.
    public init(
        client: GCSClient, defaultSignExpires: Int = 3600, logger: Logger = Logger(label: "comfylock.handler.gcs")
    ) {
        self.client = client
        self.defaultSignExpires = defaultSignExpires
        self.canSign = (try? client.signingKey()) != nil
        self.logger = logger
    }

    /// `<prefix>/<job prefix>/<job id>` without empty parts.
    func jobDirectory(jobID: String, request: OutputRequest) -> String {
        [client.configuration.normalizedPrefix, request.prefix ?? "", jobID]
            .map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "/")) }.filter { !$0.isEmpty }
            .joined(separator: "/")
    }

    func objectName(_ output: ProducedOutput, jobID: String, request: OutputRequest) -> String {
        jobDirectory(jobID: jobID, request: request) + "/" + output.nodeID + "/" + (output.filename ?? "output")
    }

    func expiry(_ request: OutputRequest) -> Int {
        request.signExpires.map { Int($0.components.seconds) } ?? defaultSignExpires
    }

    func signedURL(_ object: String, request: OutputRequest) throws -> String? {
        guard canSign else { return nil }
        return try client.signedURL(for: object, expiration: expiry(request)).url
    }

    /// Uploads one file output (or inlines a text one).
    func deliverOne(_ output: ProducedOutput, jobID: String, request: OutputRequest) async throws -> DeliveredOutput {
        guard let path = output.localPath else {
            let text = output.text ?? ""
            return DeliveredOutput(
                nodeID: output.nodeID, classType: output.classType, kind: output.kind, filename: output.filename,
                mediaType: output.mediaType, size: Int64(text.utf8.count), sha256: output.sha256, payload: .text(text))
        }
        let object = objectName(output, jobID: jobID, request: request)
        do {
            let uploaded = try await client.upload(
                file: path, as: object, options: UploadOptions(contentType: output.mediaType))
            logger.info(
                "uploaded \(uploaded.uri) (\(uploaded.size) bytes, crc32c \(uploaded.crc32c), \(uploaded.method))")
            return DeliveredOutput(
                nodeID: output.nodeID, classType: output.classType, kind: output.kind, filename: output.filename,
                mediaType: output.mediaType, size: uploaded.size, sha256: output.sha256,
                payload: .gcs(uri: uploaded.uri, url: try signedURL(object, request: request)))
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw JobFailure(
                kind: .delivery,
                message:
                    "uploading node \(output.nodeID)'s \(output.filename ?? "output") to \(client.uri(of: object)) "
                    + "failed: \(Redaction.redact(String(describing: error)))",
                nodeID: output.nodeID, retryable: true)
        }
    }

    /// Uploads every output (the non-streaming path: each one in turn).
    public func deliver(
        _ outputs: [ProducedOutput], jobID: String, request: OutputRequest
    ) async throws
        -> [DeliveredOutput]
    {
        var delivered: [DeliveredOutput] = []
        for output in outputs { delivered.append(try await deliverOne(output, jobID: jobID, request: request)) }
        return delivered
    }

    /// A streaming session: each output handed to it starts uploading at once.
    public func session(jobID: String, request: OutputRequest) -> (any OutputDeliverySession)? {
        GCSDeliverySession(delivery: self, jobID: jobID, request: request)
    }

    /// Writes the completion record (the result without signed URLs, plus the input's SHA-256).
    public func complete(_ output: JobOutput, jobID: String, inputSHA256: String, request: OutputRequest) async throws {
        var recorded = output
        recorded.outputs = output.outputs.map { item in
            var item = item
            if case .gcs(let uri, _) = item.payload { item.payload = .gcs(uri: uri, url: nil) }
            return item
        }
        var objects: [JSONValue] = []
        for item in recorded.outputs {
            guard case .gcs(let uri, _) = item.payload, let object = objectName(fromURI: uri) else { continue }
            guard let metadata = try await client.objectMetadata(object) else {
                throw JobFailure(kind: .delivery, message: "\(uri) disappeared right after its upload", retryable: true)
            }
            objects.append([
                "object": .string(object), "generation": metadata.generation.map(JSONValue.string) ?? .null,
                "crc32c": metadata.crc32c.map(JSONValue.string) ?? .null, "size": .number(Double(metadata.size)),
            ])
        }
        let record: JSONValue = [
            "job_id": .string(jobID), "input_sha256": .string(inputSHA256), "output": recorded.json,
            "objects": .array(objects),
        ]
        let marker = jobDirectory(jobID: jobID, request: request) + "/" + Self.markerName
        let file = FileManager.default.temporaryDirectory.appendingPathComponent(
            "comfylock-marker-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: file) }
        do {
            try Data(CanonicalJSON.encode(record)).write(to: file)
            // Through a resumable session even though it is small: gcp-storage-emulator fails a media upload whose
            // content type is application/json (it parses the body as metadata); real GCS takes either.
            _ = try await client.upload(
                file: file.path, as: marker,
                options: UploadOptions(contentType: "application/json", resumableThreshold: 0, chunkSize: 256 * 1024))
        } catch {
            throw JobFailure(
                kind: .delivery,
                message: "writing the completion record \(client.uri(of: marker)) failed: "
                    + Redaction.redact(String(describing: error)), retryable: true)
        }
    }

    /// The recorded result of a completed job id, with fresh signed URLs — when every object is still there as
    /// recorded. Another input under the same id is refused; an unreadable record means: run the job.
    public func existing(jobID: String, inputSHA256: String, request: OutputRequest) async throws -> JobOutput? {
        let marker = jobDirectory(jobID: jobID, request: request) + "/" + Self.markerName
        let record: JSONValue
        do {
            guard let bytes = try await client.readObject(marker, maxBytes: 4 << 20) else { return nil }
            record = try JSONParser.parse(bytes)
        } catch {
            logger.warning("cannot read \(client.uri(of: marker)), running the job: \(Redaction.redact("\(error)"))")
            return nil
        }
        guard record["input_sha256"]?.stringValue == inputSHA256 else {
            throw JobFailure.validation(
                path: "id",
                "job \(jobID) was already completed with another input (\(client.uri(of: marker))); "
                    + "a job id names one job: use a new id")
        }
        guard let recorded = record["output"].flatMap(JobOutput.init(json:)),
            let objects = record["objects"]?.arrayValue
        else { return nil }
        for entry in objects {
            guard let object = entry["object"]?.stringValue,
                let metadata = try? await client.objectMetadata(object),
                metadata.generation == entry["generation"]?.stringValue,
                metadata.crc32c == entry["crc32c"]?.stringValue
            else {
                logger.warning("job \(jobID): a recorded object is gone or changed, running the job again")
                return nil
            }
        }
        var output = recorded
        output.outputs = try recorded.outputs.map { item in
            var item = item
            if case .gcs(let uri, _) = item.payload, let object = objectName(fromURI: uri) {
                item.payload = .gcs(uri: uri, url: try signedURL(object, request: request))
            }
            return item
        }
        logger.notice(
            "job \(jobID) was completed before: answering with its \(output.outputs.count) existing output(s)")
        return output
    }

    /// The object name of `gs://<this bucket>/<object>`.
    func objectName(fromURI uri: String) -> String? {
        let prefix = "gs://\(client.bucket)/"
        guard uri.hasPrefix(prefix) else { return nil }
        return String(uri.dropFirst(prefix.count))
    }
}

/// The streaming half of `GCSDelivery`: one upload task per output, started by `add`, awaited by `finish`.
final class GCSDeliverySession: OutputDeliverySession {
    let delivery: GCSDelivery
    let jobID: String
    let request: OutputRequest
    private let uploads = Mutex<(tasks: [String: Task<DeliveredOutput, any Error>], cancelled: Bool)>(([:], false))

    init(delivery: GCSDelivery, jobID: String, request: OutputRequest) {
        self.delivery = delivery
        self.jobID = jobID
        self.request = request
    }

    private func task(for output: ProducedOutput) -> Task<DeliveredOutput, any Error> {
        let key = delivery.objectName(output, jobID: jobID, request: request)
        return uploads.withLock { state in
            if let existing = state.tasks[key] { return existing }
            let (delivery, jobID, request) = (self.delivery, self.jobID, self.request)
            let task = Task { try await delivery.deliverOne(output, jobID: jobID, request: request) }
            state.tasks[key] = task
            if state.cancelled { task.cancel() }
            return task
        }
    }

    func add(_ output: ProducedOutput) {
        guard output.localPath != nil else { return }
        _ = task(for: output)
    }

    func finish(_ outputs: [ProducedOutput]) async throws -> [DeliveredOutput] {
        var delivered: [DeliveredOutput] = []
        do {
            for output in outputs {
                if output.localPath == nil {
                    delivered.append(try await delivery.deliverOne(output, jobID: jobID, request: request))
                } else {
                    delivered.append(try await task(for: output).value)
                }
            }
        } catch {
            cancel()
            throw error
        }
        return delivered
    }

    func cancel() {
        let tasks = uploads.withLock { state -> [Task<DeliveredOutput, any Error>] in
            state.cancelled = true
            return Array(state.tasks.values)
        }
        for task in tasks { task.cancel() }
    }
}
