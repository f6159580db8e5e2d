import ComfyCrypto
public import ComfyLock
import Foundation

/// The one rule set for job inputs: checks everything it can without side effects and collects every problem with
/// its JSON path, so a client sees all of them at once.
///
/// Checks: the input is an object with known members; exactly one of `workflow` / `workflow_name`; the workflow is
/// a non-empty API-format graph (UI-format exports are recognised and refused with the fix); `workflow_name` names a
/// workflow of the lock; `images[]` / `inputs[]` have safe unique names, valid base64 / data URIs, an optional
/// sha256 that matches inline data, total inline bytes and count within `JobLimits`; URLs are http/https to public
/// addresses unless allowed; `output` / `timeout_s` / `overrides` are well-formed and overrides name existing node
/// inputs. What needs the outside world (a download's size and hash, node classes against `/object_info`) is
/// checked later by the executor with the same `ValidationDetail` shape.
public struct JobValidator: Sendable {
    /// The operator's limits.
    public var limits: JobLimits
    /// The lock's workflows by name (already loaded; `workflow_name` picks from these).
    public var namedWorkflows: [String: JSONValue]
    /// Whether this worker can upload to GCS (otherwise `output.mode: "gcs"` is refused).
    public var gcsAvailable: Bool

    /// A validator.
    public init(limits: JobLimits = JobLimits(), namedWorkflows: [String: JSONValue] = [:], gcsAvailable: Bool = false)
    {
        self.limits = limits
        self.namedWorkflows = namedWorkflows
        self.gcsAvailable = gcsAvailable
    }

    static let knownMembers: Set<String> = [
        "workflow", "workflow_name", "images", "inputs", "output", "timeout_s", "overrides",
    ]

    /// The validated input, or a `JobFailure` of kind `validation` listing every problem.
    public func validate(_ input: JSONValue?) -> Result<JobInput, JobFailure> {
        var problems: [ValidationDetail] = []
        func problem(_ path: String, _ message: String) {
            problems.append(ValidationDetail(path: path, message: message))
        }

        guard let input else { return .failure(.validation(path: "input", "the job has no input")) }
        guard let object = input.objectValue else {
            return .failure(.validation(path: "input", "must be a JSON object, got \(input.typeDescription)"))
        }
        for key in object.keys.sorted() where !Self.knownMembers.contains(key) {
            problem(
                "input.\(Escape.quoted(key, limit: 40))",
                "unknown member (expected one of: \(Self.knownMembers.sorted().joined(separator: ", ")))")
        }

        // The graph.
        var workflow: [String: JSONValue]?
        var workflowName: String?
        switch (object["workflow"], object["workflow_name"]) {
        case (nil, nil):
            problem("input.workflow", "missing: give an API-format workflow or a workflow_name from the lock")
        case (.some, .some):
            problem("input.workflow_name", "give either workflow or workflow_name, not both")
        case (.some(let value), nil):
            workflow = checkWorkflow(value, path: "input.workflow", problem)
        case (nil, .some(let value)):
            if let name = value.stringValue, !name.isEmpty {
                workflowName = name
                if let named = namedWorkflows[name] {
                    workflow = checkWorkflow(named, path: "lock.workflows[\(Escape.quoted(name))]", problem)
                } else {
                    let known = namedWorkflows.keys.sorted().prefix(20).map { Escape.quoted($0) }
                    problem(
                        "input.workflow_name",
                        "no workflow \(Escape.quoted(name)) in the lock"
                            + (known.isEmpty
                                ? " (the lock records no workflows)" : " (known: \(known.joined(separator: ", ")))"))
                }
            } else {
                problem("input.workflow_name", "must be a non-empty string, got \(value.typeDescription)")
            }
        }

        // Files.
        var files: [InputFile] = []
        var names: Set<String> = []
        var inlineBytes = 0
        if let images = object["images"] {
            if let list = images.arrayValue {
                for (index, item) in list.enumerated() {
                    let path = "input.images[\(index)]"
                    guard let entry = item.objectValue else {
                        problem(path, "must be an object {name, image}, got \(item.typeDescription)")
                        continue
                    }
                    for key in entry.keys.sorted() where key != "name" && key != "image" && key != "sha256" {
                        problem("\(path).\(Escape.quoted(key, limit: 40))", "unknown member (expected name, image)")
                    }
                    let name = checkName(entry["name"], path: "\(path).name", seen: &names, problem)
                    let sha = checkSHA(entry["sha256"], path: "\(path).sha256", problem)
                    guard let imageValue = entry["image"] else {
                        problem("\(path).image", "missing: base64 data or a data URI")
                        continue
                    }
                    guard let bytes = decodeInline(imageValue, path: "\(path).image", problem) else { continue }
                    inlineBytes += bytes.count
                    if let sha, SHA256.hash(bytes).hex != sha {
                        problem("\(path).sha256", "does not match the image data (got \(SHA256.hash(bytes).hex))")
                    }
                    if let name { files.append(InputFile(name: name, source: .data(bytes), sha256: sha, path: path)) }
                }
            } else {
                problem("input.images", "must be an array, got \(images.typeDescription)")
            }
        }
        if let inputs = object["inputs"] {
            if let list = inputs.arrayValue {
                for (index, item) in list.enumerated() {
                    let path = "input.inputs[\(index)]"
                    guard let entry = item.objectValue else {
                        problem(path, "must be an object {name, url | data, sha256?}, got \(item.typeDescription)")
                        continue
                    }
                    for key in entry.keys.sorted() where !["name", "url", "data", "sha256"].contains(key) {
                        problem(
                            "\(path).\(Escape.quoted(key, limit: 40))",
                            "unknown member (expected name, url, data, sha256)")
                    }
                    let name = checkName(entry["name"], path: "\(path).name", seen: &names, problem)
                    let sha = checkSHA(entry["sha256"], path: "\(path).sha256", problem)
                    switch (entry["url"], entry["data"]) {
                    case (nil, nil):
                        problem(path, "needs url or data")
                    case (.some, .some):
                        problem(path, "give either url or data, not both")
                    case (.some(let urlValue), nil):
                        guard let text = urlValue.stringValue, text.utf8.count <= 8192,
                            let url = URL(string: text), url.scheme != nil
                        else {
                            problem("\(path).url", "must be an absolute http(s) URL")
                            continue
                        }
                        if let refusal = AddressPolicy.refusal(for: url, allowPrivate: limits.allowPrivateURLs) {
                            problem("\(path).url", refusal)
                            continue
                        }
                        if let name { files.append(InputFile(name: name, source: .url(url), sha256: sha, path: path)) }
                    case (nil, .some(let dataValue)):
                        guard let bytes = decodeInline(dataValue, path: "\(path).data", problem) else { continue }
                        inlineBytes += bytes.count
                        if let sha, SHA256.hash(bytes).hex != sha {
                            problem("\(path).sha256", "does not match the data (got \(SHA256.hash(bytes).hex))")
                        }
                        if let name {
                            files.append(InputFile(name: name, source: .data(bytes), sha256: sha, path: path))
                        }
                    }
                }
            } else {
                problem("input.inputs", "must be an array, got \(inputs.typeDescription)")
            }
        }
        let fileCount = (object["images"]?.arrayValue?.count ?? 0) + (object["inputs"]?.arrayValue?.count ?? 0)
        if fileCount > limits.maxInputCount {
            problem("input", "\(fileCount) input files; this worker accepts at most \(limits.maxInputCount)")
        }
        if inlineBytes > limits.maxInlineInputBytes {
            problem(
                "input",
                "inline inputs total \(inlineBytes) bytes; this worker accepts at most \(limits.maxInlineInputBytes) "
                    + "(pass large files as inputs[].url)")
        }

        // Output, timeout.
        var output = OutputRequest()
        if let value = object["output"] {
            output = checkOutput(value, problem)
        }
        var timeout = limits.defaultTimeout
        if let value = object["timeout_s"] {
            if let seconds = value.numberValue, seconds > 0, seconds.isFinite {
                let asked = Duration.milliseconds(Int64((seconds * 1000).rounded()))
                if asked > limits.maxTimeout {
                    problem("input.timeout_s", "at most \(limits.maxTimeout.components.seconds) seconds on this worker")
                } else {
                    timeout = asked
                }
            } else {
                problem("input.timeout_s", "must be a positive number of seconds")
            }
        }

        // Overrides (applied to the graph only when it is valid).
        var overrides: [String: JSONValue] = [:]
        if let value = object["overrides"] {
            if let members = value.objectValue {
                for key in members.keys.sorted() {
                    let path = "input.overrides.\(Escape.quoted(key, limit: 60))"
                    let parts = key.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
                    guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                        problem(path, "keys are \"<node id>.<input name>\"")
                        continue
                    }
                    let override = members[key]!
                    if case .object = override {
                        problem(
                            path, "an override value must be a string, number, boolean, null or a link [node, slot]")
                        continue
                    }
                    guard var graph = workflow else { continue }
                    let node = String(parts[0])
                    let inputName = String(parts[1])
                    guard var nodeObject = graph[node]?.objectValue else {
                        problem(path, "the workflow has no node \(Escape.quoted(node))")
                        continue
                    }
                    guard var nodeInputs = nodeObject["inputs"]?.objectValue, nodeInputs[inputName] != nil else {
                        problem(path, "node \(Escape.quoted(node)) has no input \(Escape.quoted(inputName))")
                        continue
                    }
                    nodeInputs[inputName] = override
                    nodeObject["inputs"] = .object(nodeInputs)
                    graph[node] = .object(nodeObject)
                    workflow = graph
                    overrides[key] = override
                }
            } else {
                problem(
                    "input.overrides", "must be an object {\"<node>.<input>\": value}, got \(value.typeDescription)")
            }
        }

        if !problems.isEmpty { return .failure(.validation(problems)) }
        guard let workflow else { return .failure(.validation(path: "input.workflow", "missing")) }
        return .success(
            JobInput(
                workflow: workflow, workflowName: workflowName, files: files, output: output, timeout: timeout,
                overrides: overrides))
    }

    /// A graph as the executor needs it, or `nil` after reporting why not.
    func checkWorkflow(
        _ value: JSONValue, path: String, _ problem: (String, String) -> Void
    ) -> [String: JSONValue]? {
        if case .string(let text) = value {
            // Some clients send the graph as JSON text; accept it when it parses to an object.
            guard text.utf8.count <= 64 << 20, let parsed = try? JSONParser.parse(text), parsed.objectValue != nil
            else {
                problem(path, "must be an API-format workflow object (a string was given that is not JSON of one)")
                return nil
            }
            return checkWorkflow(parsed, path: path, problem)
        }
        guard let graph = value.objectValue else {
            problem(path, "must be an API-format workflow object, got \(value.typeDescription)")
            return nil
        }
        if graph.isEmpty {
            problem(path, "is empty")
            return nil
        }
        if graph["nodes"]?.arrayValue != nil || graph["links"] != nil || graph["last_node_id"] != nil {
            problem(
                path,
                "is a UI-format workflow (it has nodes/links); export it from ComfyUI with \"Export (API)\" "
                    + "(Save (API Format)) and send that")
            return nil
        }
        if graph.count > limits.maxWorkflowNodes {
            problem(path, "has \(graph.count) nodes; this worker accepts at most \(limits.maxWorkflowNodes)")
            return nil
        }
        var ok = true
        for id in graph.keys.sorted() {
            let nodePath = "\(path).\(Escape.quoted(id, limit: 40))"
            guard !id.isEmpty, id.utf8.count <= 64, !id.unicodeScalars.contains(where: { $0.value < 0x20 }) else {
                problem(nodePath, "node ids are 1-64 printable characters")
                ok = false
                continue
            }
            guard let node = graph[id]!.objectValue else {
                problem(nodePath, "must be a node object {class_type, inputs}, got \(graph[id]!.typeDescription)")
                ok = false
                continue
            }
            guard let classType = node["class_type"]?.stringValue, !classType.isEmpty else {
                problem("\(nodePath).class_type", "missing (every node of an API-format workflow has a class_type)")
                ok = false
                continue
            }
            _ = classType
            if let inputs = node["inputs"], inputs.objectValue == nil {
                problem("\(nodePath).inputs", "must be an object, got \(inputs.typeDescription)")
                ok = false
            }
        }
        return ok ? graph : nil
    }

    /// A safe file name (one component), unique within the job.
    func checkName(
        _ value: JSONValue?, path: String, seen: inout Set<String>, _ problem: (String, String) -> Void
    ) -> String? {
        guard let name = value?.stringValue, !name.isEmpty else {
            problem(path, "missing: a file name")
            return nil
        }
        if let reason = Self.unsafeNameReason(name) {
            problem(path, "\(Escape.quoted(name)) \(reason)")
            return nil
        }
        guard seen.insert(name).inserted else {
            problem(path, "\(Escape.quoted(name)) is given twice")
            return nil
        }
        return name
    }

    /// Why `name` cannot be an input file name, or `nil` when it can.
    static func unsafeNameReason(_ name: String) -> String? {
        if name.utf8.count > 255 { return "is longer than 255 bytes" }
        if name.contains("/") || name.contains("\\") { return "must be a plain file name (no / or \\)" }
        if name.contains("..") { return "must not contain \"..\"" }
        if name.hasPrefix(".") { return "must not start with \".\"" }
        if name.unicodeScalars.contains(where: {
            $0.value < 0x20 || $0.value == 0x7F || (0x80..<0xA0).contains($0.value)
        }) {
            return "must not contain control characters"
        }
        if name.trimmingCharacters(in: .whitespaces).isEmpty { return "is blank" }
        return nil
    }

    func checkSHA(_ value: JSONValue?, path: String, _ problem: (String, String) -> Void) -> String? {
        guard let value else { return nil }
        guard let text = value.stringValue?.lowercased(), Hex.isLowercaseHex(text, count: 64) else {
            problem(path, "must be 64 hex digits")
            return nil
        }
        return text
    }

    /// Decodes base64 or a `data:<type>;base64,` URI (whitespace ignored); `nil` after reporting why not.
    func decodeInline(_ value: JSONValue, path: String, _ problem: (String, String) -> Void) -> [UInt8]? {
        guard var text = value.stringValue else {
            problem(path, "must be a base64 string or a data URI, got \(value.typeDescription)")
            return nil
        }
        // Bound the work before decoding: base64 is 4/3 of the bytes.
        if text.utf8.count / 4 * 3 > limits.maxInlineInputBytes + 3 {
            problem(path, "is larger than this worker's \(limits.maxInlineInputBytes)-byte limit for inline inputs")
            return nil
        }
        if text.hasPrefix("data:") {
            guard let comma = text.firstIndex(of: ","), text[..<comma].hasSuffix(";base64") else {
                problem(path, "a data URI must be of the form data:<type>;base64,<data>")
                return nil
            }
            text = String(text[text.index(after: comma)...])
        }
        text.removeAll(where: { $0 == "\n" || $0 == "\r" || $0 == " " || $0 == "\t" })
        if text.isEmpty {
            problem(path, "is empty")
            return nil
        }
        var padded = text
        if padded.count % 4 == 2 { padded += "==" } else if padded.count % 4 == 3 { padded += "=" }
        guard let data = Data(base64Encoded: padded) else {
            problem(path, "is not valid base64")
            return nil
        }
        return [UInt8](data)
    }

    func checkOutput(_ value: JSONValue, _ problem: (String, String) -> Void) -> OutputRequest {
        var output = OutputRequest()
        guard let object = value.objectValue else {
            problem("input.output", "must be an object {mode, prefix?, sign_expires?}, got \(value.typeDescription)")
            return output
        }
        for key in object.keys.sorted() where !["mode", "prefix", "sign_expires"].contains(key) {
            problem(
                "input.output.\(Escape.quoted(key, limit: 40))", "unknown member (expected mode, prefix, sign_expires)")
        }
        if let mode = object["mode"] {
            if let text = mode.stringValue, let parsed = OutputRequest.Mode(rawValue: text) {
                output.mode = parsed
                if parsed == .gcs && !gcsAvailable {
                    problem("input.output.mode", "GCS delivery is not configured on this worker (set GCS_BUCKET)")
                }
            } else {
                problem("input.output.mode", "must be \"base64\" or \"gcs\"")
            }
        }
        if let prefix = object["prefix"] {
            if let text = prefix.stringValue, !text.isEmpty, text.utf8.count <= 256,
                !text.split(separator: "/", omittingEmptySubsequences: false).contains(where: {
                    $0 == ".." || $0 == "."
                }),
                !text.hasPrefix("/"),
                !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F })
            {
                output.prefix = text
            } else {
                problem(
                    "input.output.prefix",
                    "must be a relative object-name prefix (≤ 256 bytes, no leading /, no . or .. segments, "
                        + "no control characters)")
            }
        }
        if let expires = object["sign_expires"] {
            if let seconds = expires.numberValue, seconds >= 1, seconds == seconds.rounded(),
                Duration.seconds(Int64(seconds)) <= limits.maxSignExpires
            {
                output.signExpires = .seconds(Int64(seconds))
            } else {
                problem(
                    "input.output.sign_expires",
                    "must be a whole number of seconds from 1 to \(limits.maxSignExpires.components.seconds)")
            }
        }
        return output
    }
}
