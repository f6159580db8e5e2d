public import ComfyLock

// Reading results back from their JSON (a GCS completion record written by this worker; still untrusted bytes from
// a bucket, so every member is checked and anything malformed is `nil`, which makes the job run again).

extension DeliveredOutput {
    /// The output of `json` (the shape `json` writes), or `nil` when a member is missing or of the wrong type.
    public init?(json: JSONValue) {
        guard let nodeID = json["node_id"]?.stringValue, let classType = json["class_type"]?.stringValue,
            let kind = json["kind"]?.stringValue.flatMap(OutputKind.init(rawValue:)),
            let mediaType = json["media_type"]?.stringValue, let size = json["size"]?.numberValue,
            let sha256 = json["sha256"]?.stringValue
        else { return nil }
        let payload: Payload
        if let uri = json["gcs_uri"]?.stringValue {
            payload = .gcs(uri: uri, url: json["url"]?.stringValue)
        } else if let text = json["text"]?.stringValue {
            payload = .text(text)
        } else if let data = json["data"]?.stringValue {
            payload = .base64(data)
        } else {
            return nil
        }
        self.init(
            nodeID: nodeID, classType: classType, kind: kind, filename: json["filename"]?.stringValue,
            mediaType: mediaType, size: Int64(size), sha256: sha256, payload: payload)
    }
}

extension EnvironmentIdentity {
    /// The identity of `json`, or `nil` without a handler version.
    public init?(json: JSONValue) {
        guard let handlerVersion = json["handler_version"]?.stringValue else { return nil }
        self.init(
            comfyUICommit: json["comfyui_commit"]?.stringValue, versionDigest: json["version_digest"]?.stringValue,
            handlerVersion: handlerVersion)
        drift = json["drift"]?.stringValue
    }
}

extension JobTimings {
    /// The timings of `json` (missing members are 0).
    public init(json: JSONValue) {
        func ms(_ key: String) -> Int64 { Int64(json[key]?.numberValue ?? 0) }
        self.init(
            queueMS: ms("queue_ms"), runMS: ms("run_ms"), uploadMS: ms("upload_ms"), totalMS: ms("total_ms"),
            fetchMS: json["fetch_ms"]?.numberValue.map { Int64($0) })
    }
}

extension JobOutput {
    /// The output of `json` (the shape `json` writes), or `nil` when it is malformed.
    public init?(json: JSONValue) {
        guard let items = json["outputs"]?.arrayValue, let promptID = json["prompt_id"]?.stringValue,
            let environment = json["environment"].flatMap(EnvironmentIdentity.init(json:))
        else { return nil }
        var outputs: [DeliveredOutput] = []
        for item in items {
            guard let output = DeliveredOutput(json: item) else { return nil }
            outputs.append(output)
        }
        self.init(
            outputs: outputs, promptID: promptID, lockDigest: json["lock_digest"]?.stringValue,
            environment: environment, timings: JobTimings(json: json["timings"] ?? [:]),
            peakMemory: json["peak_memory"]?.numberValue.map { Int64($0) })
    }
}
