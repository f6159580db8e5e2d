import ComfyCrypto
import ComfySupport
import Foundation

/// Turns produced outputs into delivered ones (inline base64, or uploaded). Throws `JobFailure` (kind `delivery`).
///
/// A delivery may also stream (`session`: outputs handed over as each node finishes, uploaded while the graph
/// runs), remember a job (`complete`: a completion record after the result is assembled) and answer a re-delivered
/// job id from that record (`existing`) instead of running it again. The defaults do none of these.
public protocol OutputDelivering: Sendable {
    /// Delivers `outputs` of job `jobID` as `request` asks.
    func deliver(_ outputs: [ProducedOutput], jobID: String, request: OutputRequest) async throws -> [DeliveredOutput]

    /// A session for job `jobID` opened before it runs, or `nil` when this delivery does not stream.
    func session(jobID: String, request: OutputRequest) -> (any OutputDeliverySession)?

    /// The already delivered result of job `jobID` when it was completed before with the same input
    /// (`inputSHA256`), or `nil` to run it. Throws `JobFailure` when the id was completed with another input.
    func existing(jobID: String, inputSHA256: String, request: OutputRequest) async throws -> JobOutput?

    /// Records that job `jobID` is complete with `output` (after every output was delivered).
    func complete(_ output: JobOutput, jobID: String, inputSHA256: String, request: OutputRequest) async throws
}

extension OutputDelivering {
    /// Default: no streaming.
    public func session(jobID: String, request: OutputRequest) -> (any OutputDeliverySession)? { nil }
    /// Default: every job runs.
    public func existing(jobID: String, inputSHA256: String, request: OutputRequest) async throws -> JobOutput? { nil }
    /// Default: nothing is recorded.
    public func complete(_ output: JobOutput, jobID: String, inputSHA256: String, request: OutputRequest) async throws {
    }
}

/// One job's streaming delivery: outputs arrive with `add` while the graph runs (each may start uploading at
/// once); `finish` delivers the complete list in order, reusing what `add` started; `cancel` stops the rest.
public protocol OutputDeliverySession: Sendable {
    /// An output is ready (its file is complete on disk).
    func add(_ output: ProducedOutput)
    /// Delivers every output of the finished graph, in order.
    func finish(_ outputs: [ProducedOutput]) async throws -> [DeliveredOutput]
    /// The job failed or was stopped: stop what is still running.
    func cancel()
}

/// Inline delivery: every file read and base64-encoded into the result, within a total size cap.
public struct Base64Delivery: OutputDelivering {
    /// The most bytes (before encoding) one result may carry inline.
    public var maxTotalBytes: Int

    /// A base64 delivery with a total cap.
    public init(maxTotalBytes: Int = JobLimits().maxInlineOutputBytes) { self.maxTotalBytes = maxTotalBytes }

    /// Reads and encodes each output; text outputs are inlined as `text`.
    public func deliver(
        _ outputs: [ProducedOutput], jobID: String, request: OutputRequest
    ) async throws
        -> [DeliveredOutput]
    {
        let total = outputs.filter { $0.localPath != nil }.reduce(Int64(0)) { $0 + $1.size }
        if total > Int64(maxTotalBytes) {
            throw JobFailure(
                kind: .delivery,
                message:
                    "the outputs total \(total) bytes, over this worker's \(maxTotalBytes)-byte limit for base64 "
                    + "results; ask for {\"output\": {\"mode\": \"gcs\"}} to upload them to Google Cloud Storage instead"
            )
        }
        let maxTotal = maxTotalBytes
        return try await BlockingPool.shared.run {
            var delivered: [DeliveredOutput] = []
            var sum = 0
            for output in outputs {
                if let path = output.localPath {
                    let bytes = try Self.readBounded(path: path, limit: maxTotal - sum)
                    sum += bytes.count
                    delivered.append(
                        DeliveredOutput(
                            nodeID: output.nodeID, classType: output.classType, kind: output.kind,
                            filename: output.filename, mediaType: output.mediaType, size: Int64(bytes.count),
                            sha256: SHA256.hash(bytes).hex, payload: .base64(Data(bytes).base64EncodedString())))
                } else {
                    let text = output.text ?? ""
                    delivered.append(
                        DeliveredOutput(
                            nodeID: output.nodeID, classType: output.classType, kind: output.kind,
                            filename: output.filename, mediaType: output.mediaType, size: Int64(text.utf8.count),
                            sha256: SHA256.hash(Array(text.utf8)).hex, payload: .text(text)))
                }
            }
            return delivered
        }
    }

    static func readBounded(path: String, limit: Int) throws -> [UInt8] {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw JobFailure(kind: .delivery, message: "output file \(Escape.quoted(path, limit: 200)) cannot be read")
        }
        defer { try? handle.close() }
        var bytes: [UInt8] = []
        while true {
            let chunk = (try? handle.read(upToCount: 1 << 20)) ?? nil
            guard let chunk, !chunk.isEmpty else { break }
            bytes.append(contentsOf: chunk)
            if bytes.count > limit {
                throw JobFailure(
                    kind: .delivery,
                    message:
                        "the outputs grew past this worker's limit for base64 results while being read; ask for "
                        + "{\"output\": {\"mode\": \"gcs\"}} to upload them to Google Cloud Storage instead")
            }
        }
        return bytes
    }
}
