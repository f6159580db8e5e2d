import ComfyLock
import ComfySupport

/// The OpenAPI 3.1 document of the local API, served at `/openapi.json` and committed as docs/openapi.json (a test
/// checks they are identical: after editing this, regenerate the file from `/openapi.json` of a running
/// `comfy-handler serve`). Built from small helpers so each repeated shape (a JSON response, the `{id}` parameter,
/// a job-posting route, a job-status route, a nullable type) is written once.
enum OpenAPIDocument {
    /// The document as pretty-printed JSON text (sorted keys, two-space indent, a trailing newline).
    static let json: String = PrettyJSON.render(document) + "\n"

    static var document: JSONValue {
        [
            "openapi": "3.1.0",
            "info": [
                "title": "comfy-handler local API", "version": .string(ComfyLockVersion.current),
                "description": """
                The ComfyLock worker's local HTTP API in RunPod's shapes (the SDK's local API plus the hosted \
                API's routes). A job's `error` member is the JSON text of a JobError, as RunPod's hosted API \
                carries errors as strings.
                """,
            ],
            "servers": [["url": "http://127.0.0.1:8000"]],
            "components": ["schemas": schemas],
            "paths": paths,
        ]
    }

    // MARK: - Helpers (each repeated shape once)

    static func ref(_ schema: String) -> JSONValue { ["$ref": .string("#/components/schemas/\(schema)")] }

    static func type(_ name: String) -> JSONValue { ["type": .string(name)] }

    static func nullable(_ name: String, description: String? = nil) -> JSONValue {
        var object: [String: JSONValue] = ["type": [.string(name), "null"]]
        if let description { object["description"] = .string(description) }
        return .object(object)
    }

    static func string(_ description: String) -> JSONValue { ["type": "string", "description": .string(description)] }

    static func array(_ items: JSONValue) -> JSONValue { ["type": "array", "items": items] }

    static func object(
        _ properties: [String: JSONValue], required: [String] = [], closed: Bool = false, description: String? = nil
    ) -> JSONValue {
        var object: [String: JSONValue] = ["type": "object", "properties": .object(properties)]
        if !required.isEmpty { object["required"] = .array(required.map(JSONValue.string)) }
        if closed { object["additionalProperties"] = false }
        if let description { object["description"] = .string(description) }
        return .object(object)
    }

    static func integers(_ names: [String]) -> [String: JSONValue] {
        Dictionary(uniqueKeysWithValues: names.map { ($0, type("integer")) })
    }

    static func enumeration(_ values: [String]) -> JSONValue {
        ["type": "string", "enum": .array(values.map(JSONValue.string))]
    }

    /// A response with a JSON body of `schema` (or any JSON when `nil`).
    static func response(_ description: String, _ schema: String?) -> JSONValue {
        let content: JSONValue = schema.map { ["schema": ref($0)] } ?? [:]
        return ["description": .string(description), "content": ["application/json": content]]
    }

    static let idParameter: JSONValue = [
        ["in": "path", "name": "id", "required": true, "schema": ["type": "string"]]
    ]

    /// `POST /run` and `POST /runsync`: a JobRequest body, a JobStatus answer, 400 and 413 (RunPod's size limit).
    static func jobPost(summary: String, answer: String, limit: String) -> JSONValue {
        [
            "post": [
                "summary": .string(summary),
                "requestBody": ["required": true, "content": ["application/json": ["schema": ref("JobRequest")]]],
                "responses": [
                    "200": response(answer, "JobStatus"),
                    "400": response("The body is not a JSON object.", "PlainError"),
                    "413": response("The body is over \(limit).", "PlainError"),
                ],
            ]
        ]
    }

    /// An operation on `{id}`: the JobStatus, or 404.
    static func statusOperation(_ summary: String, answer: String = "The job.") -> JSONValue {
        [
            "summary": .string(summary),
            "responses": ["200": response(answer, "JobStatus"), "404": response("Unknown id.", "PlainError")],
        ]
    }

    // MARK: - Paths

    static var paths: JSONValue {
        [
            "/runsync": jobPost(
                summary: "Run a job and wait for its result.", answer: "The finished job.", limit: "20 MB"),
            "/run": jobPost(summary: "Queue a job.", answer: "The queued job.", limit: "10 MB"),
            "/status/{id}": [
                "parameters": idParameter,
                "get": statusOperation("A job's status."),
                "post": statusOperation("A job's status (the SDK's local API uses POST)."),
            ],
            "/cancel/{id}": [
                "parameters": idParameter,
                "post": statusOperation(
                    "Cancel a job: its prompt is interrupted and no result is kept.", answer: "The job's state."),
            ],
            "/health": [
                "get": [
                    "summary": "The process is alive; job and worker counters.",
                    "responses": ["200": response("Counters.", "Health")],
                ]
            ],
            "/ready": [
                "get": [
                    "summary": "Ready to take jobs: lock applied, ComfyUI up, warm, backlog below its limit.",
                    "responses": [
                        "200": response("Ready.", "Ready"), "503": response("Not ready, with the reasons.", "Ready"),
                    ],
                ]
            ],
            "/metrics": [
                "get": [
                    "summary": "The worker's metrics in the Prometheus text format.",
                    "responses": [
                        "200": [
                            "description": "Prometheus text exposition 0.0.4.",
                            "content": ["text/plain": ["schema": ["type": "string"]]],
                        ]
                    ],
                ]
            ],
            "/openapi.json": [
                "get": ["summary": "This document.", "responses": ["200": response("OpenAPI 3.1.", nil)]]
            ],
        ]
    }

    // MARK: - Schemas

    static var schemas: JSONValue {
        [
            "FileName": [
                "type": "string", "minLength": 1, "maxLength": 255,
                "description": "One plain file name: no '/', '\\', '..', leading '.', or control characters.",
            ],
            "SHA256": ["type": "string", "pattern": "^[0-9a-fA-F]{64}$"],
            "PlainError": object(["error": type("string")], required: ["error"]),
            "Ready": object(
                ["ready": type("boolean"), "reasons": array(type("string"))], required: ["ready", "reasons"]),
            "Health": object([
                "jobs": object(integers(["completed", "failed", "inProgress", "inQueue", "retried"])),
                "workers": object(integers(["idle", "running"])),
            ]),
            "JobRequest": object(
                [
                    "input": ref("JobInput"),
                    "webhook": string(
                        "Where to POST the answer when the job ends (RunPod's convention), signed the Standard Webhooks way"
                    ),
                ], required: ["input"]),
            "JobInput": jobInput,
            "JobStatus": object(
                [
                    "id": type("string"),
                    "status": enumeration(["IN_QUEUE", "IN_PROGRESS", "COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"]),
                    "output": ref("JobOutput"), "error": string("JSON text of a JobError"),
                    "delayTime": type("integer"), "executionTime": type("integer"),
                ], required: ["id", "status"]),
            "JobOutput": jobOutput,
            "Output": output,
            "JobError": object(
                [
                    "error": enumeration([
                        "validation", "drift", "execution", "timeout", "interrupted", "crashed", "out_of_memory",
                        "unavailable", "delivery", "internal",
                    ]),
                    "message": type("string"), "node_id": type("string"), "class_type": type("string"),
                    "retryable": type("boolean"),
                    "details": array(
                        object(["path": type("string"), "message": type("string")], required: ["path", "message"])),
                    "log_tail": array(type("string")),
                ], required: ["error", "message", "retryable"]),
        ]
    }

    static var jobInput: JSONValue {
        let file: (String, String) -> JSONValue = { member, description in
            object(
                [member: string(description), "name": ref("FileName"), "sha256": ref("SHA256")],
                required: member == "image" ? ["name", "image"] : ["name"], closed: true)
        }
        var input = file("data", "base64 or a data URI")
        if case .object(var members) = input, case .object(var properties)? = members["properties"] {
            properties["url"] = [
                "type": "string", "format": "uri",
                "description":
                    "http(s); private, loopback and link-local addresses are refused unless the worker allows them",
            ]
            members["properties"] = .object(properties)
            input = .object(members)
        }
        return object(
            [
                "workflow": [
                    "type": "object",
                    "description":
                        "An API-format graph: node id -> {class_type, inputs}. UI-format exports are refused.",
                    "additionalProperties": object(
                        ["class_type": type("string"), "inputs": type("object")], required: ["class_type"]),
                ],
                "workflow_name": string("A workflow recorded in the worker's lock."),
                "images": array(file("image", "base64 or a data:<type>;base64, URI")),
                "inputs": array(input),
                "output": object(
                    [
                        "mode": ["type": "string", "enum": ["base64", "gcs"], "default": "base64"],
                        "prefix": type("string"),
                        "sign_expires": ["type": "integer", "minimum": 1, "maximum": 604_800],
                    ], closed: true),
                "timeout_s": ["type": "number", "exclusiveMinimum": 0],
                "overrides": [
                    "type": "object", "additionalProperties": true,
                    "description": "\"<node id>.<input name>\": value, applied to the graph before it runs.",
                ],
            ], closed: true,
            description:
                "Exactly one of workflow / workflow_name. worker-comfyui's {workflow, images} input is accepted unchanged."
        )
    }

    static var jobOutput: JSONValue {
        object(
            [
                "outputs": array(ref("Output")), "prompt_id": type("string"),
                "lock_digest": nullable("string", description: "null only when attached to a ComfyUI without a lock"),
                "environment": object(
                    [
                        "comfyui_commit": nullable("string"), "version_digest": nullable("string"),
                        "handler_version": type("string"),
                        "drift": string(
                            "present only with --on-drift warn: how this environment differs from the lock"),
                    ], required: ["comfyui_commit", "version_digest", "handler_version"]),
                "timings": object(
                    integers(["queue_ms", "fetch_ms", "run_ms", "upload_ms", "total_ms"]),
                    required: ["queue_ms", "run_ms", "upload_ms", "total_ms"]),
                "peak_memory": nullable("integer"),
            ], required: ["outputs", "prompt_id", "lock_digest", "environment", "timings", "peak_memory"])
    }

    static var output: JSONValue {
        object(
            [
                "node_id": type("string"), "class_type": type("string"),
                "kind": enumeration(["image", "video", "audio", "text", "file"]),
                "filename": nullable("string"), "media_type": type("string"), "size": type("integer"),
                "sha256": ref("SHA256"), "data": string("base64 (mode base64)"), "text": string("text outputs"),
                "gcs_uri": string("gs://bucket/<prefix>/<job id>/<node id>/<filename> (mode gcs)"),
                "url": nullable("string", description: "V4 signed URL (mode gcs)"),
            ], required: ["node_id", "class_type", "kind", "filename", "media_type", "size", "sha256"])
    }
}

/// JSON text with sorted keys and a two-space indent (strings and numbers as RFC 8785 writes them).
enum PrettyJSON {
    static func render(_ value: JSONValue, indent: String = "") -> String {
        let inner = indent + "  "
        switch value {
        case .object(let members):
            if members.isEmpty { return "{}" }
            let lines = members.keys.sorted().map { key in
                inner + scalar(.string(key)) + ": " + render(members[key]!, indent: inner)
            }
            return "{\n" + lines.joined(separator: ",\n") + "\n" + indent + "}"
        case .array(let items):
            if items.isEmpty { return "[]" }
            return "[\n" + items.map { inner + render($0, indent: inner) }.joined(separator: ",\n") + "\n" + indent
                + "]"
        default:
            return scalar(value)
        }
    }

    static func scalar(_ value: JSONValue) -> String { String(decoding: CanonicalJSON.encode(value), as: UTF8.self) }
}
