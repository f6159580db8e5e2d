// Lock ⇄ JSONValue, by hand: strict (unknown members, wrong types and missing members are errors naming the JSON
// path) and independent of JSONEncoder's ordering or number formatting.

/// Reads the members of one JSON object, remembering which were used so unknown members can be refused.
struct ObjectReader {
    let members: [String: JSONValue]
    let path: String
    private var used: Set<String> = []

    init(_ value: JSONValue, path: String) throws(LockError) {
        guard case .object(let members) = value else {
            throw LockError.schema(path: path, "expected an object, found \(value.typeDescription)")
        }
        self.members = members
        self.path = path
    }

    func childPath(_ key: String) -> String { JSONPath.appending(path, key: key) }

    mutating func optional(_ key: String) -> JSONValue? {
        used.insert(key)
        guard let value = members[key], value != .null else { return nil }
        return value
    }

    mutating func required(_ key: String) throws(LockError) -> JSONValue {
        guard let value = optional(key) else {
            throw LockError.schema(path: childPath(key), "missing required member \"\(key)\"")
        }
        return value
    }

    mutating func string(_ key: String) throws(LockError) -> String {
        try Self.string(try required(key), path: childPath(key))
    }

    mutating func optionalString(_ key: String) throws(LockError) -> String? {
        guard let value = optional(key) else { return nil }
        return try Self.string(value, path: childPath(key))
    }

    mutating func bool(_ key: String) throws(LockError) -> Bool {
        let value = try required(key)
        guard case .bool(let bool) = value else {
            throw LockError.schema(path: childPath(key), "expected true or false, found \(value.typeDescription)")
        }
        return bool
    }

    mutating func integer(_ key: String) throws(LockError) -> Int64 {
        let value = try required(key)
        guard case .number(let number) = value, number == number.rounded(.towardZero),
            number.magnitude <= 9_007_199_254_740_992
        else {
            throw LockError.schema(
                path: childPath(key), "expected an integer of magnitude at most 2^53, found \(value.typeDescription)")
        }
        return Int64(number)
    }

    mutating func array<T>(
        _ key: String, _ element: (JSONValue, String) throws(LockError) -> T
    ) throws(LockError)
        -> [T]
    {
        try Self.array(try required(key), path: childPath(key), element)
    }

    mutating func stringArray(_ key: String) throws(LockError) -> [String] {
        try array(key) { value, path throws(LockError) in try Self.string(value, path: path) }
    }

    func finish() throws(LockError) {
        let unknown = members.keys.filter { !used.contains($0) }.sorted()
        if let first = unknown.first {
            throw LockError.schema(
                path: childPath(first),
                "unknown member \"\(first)\"; expected one of: \(used.sorted().joined(separator: ", "))")
        }
    }

    static func string(_ value: JSONValue, path: String) throws(LockError) -> String {
        guard case .string(let string) = value else {
            throw LockError.schema(path: path, "expected a string, found \(value.typeDescription)")
        }
        return string
    }

    static func array<T>(
        _ value: JSONValue, path: String, _ element: (JSONValue, String) throws(LockError) -> T
    )
        throws(LockError) -> [T]
    {
        guard case .array(let elements) = value else {
            throw LockError.schema(path: path, "expected an array, found \(value.typeDescription)")
        }
        var out: [T] = []
        out.reserveCapacity(elements.count)
        for (index, item) in elements.enumerated() {
            out.append(try element(item, JSONPath.appending(path, index: index)))
        }
        return out
    }
}

/// Builds JSON objects, leaving out `nil` optionals (the canonical form omits absent members).
struct ObjectBuilder {
    var members: [String: JSONValue] = [:]

    mutating func set(_ key: String, _ value: String) { members[key] = .string(value) }
    mutating func set(_ key: String, _ value: String?) { if let value { members[key] = .string(value) } }
    mutating func set(_ key: String, _ value: Bool) { members[key] = .bool(value) }
    mutating func set(_ key: String, _ value: Int64) { members[key] = .number(Double(value)) }
    mutating func set(_ key: String, _ value: JSONValue?) { if let value { members[key] = value } }
    mutating func set(_ key: String, _ values: [String]) { members[key] = .array(values.map { .string($0) }) }

    var value: JSONValue { .object(members) }
}

extension Lock {
    /// The lock as a JSON value (collections as stored; `LockFile.encode` sorts them first). Written by hand, not
    /// through `JSONEncoder`: `nil` optionals are omitted, and the result is what the canonical form and the digest
    /// cover. The synthesized `Codable` conformance agrees with it, for programs that use `JSONEncoder`.
    public var jsonValue: JSONValue {
        var object = ObjectBuilder()
        object.set("schemaVersion", Int64(schemaVersion))
        object.set("tag", tag)
        object.set("createdBy", createdBy)
        object.set("comfyui", comfyui.jsonValue)
        object.set("customNodes", .array(customNodes.map(\.jsonValue)))
        object.set("python", python?.jsonValue)
        object.set("models", .array(models.map(\.jsonValue)))
        object.set("workflows", .array(workflows.map(\.jsonValue)))
        return object.value
    }

    /// Decodes a version-1 or version-2 lock from a JSON value, strictly: unknown members, wrong types and missing
    /// members are errors naming the JSON path, and so is a version-2 member in a document declaring version 1.
    public init(jsonValue: JSONValue) throws(LockError) {
        var reader = try ObjectReader(jsonValue, path: JSONPath.root)
        let version = try reader.integer("schemaVersion")
        guard Lock.supportedSchemaVersions.contains(Int(clamping: version)) else {
            throw LockError.unsupportedVersion(String(version))
        }
        tag = try reader.string("tag")
        createdBy = try reader.string("createdBy")
        comfyui = try ComfyUIPin(jsonValue: try reader.required("comfyui"), path: reader.childPath("comfyui"))
        customNodes = try reader.array("customNodes") { value, path throws(LockError) in
            try CustomNode(jsonValue: value, path: path)
        }
        if let value = reader.optional("python") {
            python = try PythonPins(jsonValue: value, path: reader.childPath("python"))
        } else {
            python = nil
        }
        models = try reader.array("models") { value, path throws(LockError) in
            try ModelEntry(jsonValue: value, path: path)
        }
        workflows = try reader.array("workflows") { value, path throws(LockError) in
            try WorkflowEntry(jsonValue: value, path: path, schemaVersion: Int(version))
        }
        try reader.finish()
    }
}

extension ObjectReader {
    /// Refuses members of a later schema version than the document declares.
    func refuse(_ keys: [String], before needed: Int, declared: Int) throws(LockError) {
        guard declared < needed else { return }
        for key in keys where members[key] != nil && members[key] != .null {
            throw LockError.schema(
                path: childPath(key),
                "member \"\(key)\" needs schemaVersion \(needed); this lock declares schemaVersion \(declared)")
        }
    }

    mutating func optionalInteger(_ key: String) throws(LockError) -> Int64? {
        guard optional(key) != nil else { return nil }
        return try integer(key)
    }
}

extension ComfyUIPin {
    /// The pin as a JSON value.
    public var jsonValue: JSONValue {
        var object = ObjectBuilder()
        object.set("url", url)
        object.set("commit", commit)
        object.set("ref", ref)
        return object.value
    }

    init(jsonValue: JSONValue, path: String) throws(LockError) {
        var reader = try ObjectReader(jsonValue, path: path)
        url = try reader.string("url")
        commit = try reader.string("commit")
        ref = try reader.optionalString("ref")
        try reader.finish()
    }
}

extension CustomNode {
    /// The node as a JSON value.
    public var jsonValue: JSONValue {
        var object = ObjectBuilder()
        object.set("name", name)
        object.set("kind", kind.rawValue)
        object.set("url", url)
        object.set("commit", commit)
        object.set("registryId", registryId)
        object.set("version", version)
        object.set("sha256", sha256)
        object.set("treeHash", treeHash)
        object.set("enabled", enabled)
        return object.value
    }

    init(jsonValue: JSONValue, path: String) throws(LockError) {
        var reader = try ObjectReader(jsonValue, path: path)
        name = try reader.string("name")
        let kindText = try reader.string("kind")
        guard let kind = Kind(rawValue: kindText) else {
            throw LockError.schema(
                path: reader.childPath("kind"), "unknown node kind \"\(kindText)\"; expected git, registry or file")
        }
        self.kind = kind
        url = try reader.optionalString("url")
        commit = try reader.optionalString("commit")
        registryId = try reader.optionalString("registryId")
        version = try reader.optionalString("version")
        sha256 = try reader.optionalString("sha256")
        treeHash = try reader.optionalString("treeHash")
        enabled = try reader.bool("enabled")
        try reader.finish()
    }
}

extension PythonPins {
    /// The pins as a JSON value.
    public var jsonValue: JSONValue {
        var object = ObjectBuilder()
        object.set("version", version)
        object.set("platform", platform)
        object.set("indexUrls", indexUrls)
        object.set("packages", .array(packages.map(\.jsonValue)))
        return object.value
    }

    init(jsonValue: JSONValue, path: String) throws(LockError) {
        var reader = try ObjectReader(jsonValue, path: path)
        version = try reader.string("version")
        platform = try reader.string("platform")
        indexUrls = try reader.stringArray("indexUrls")
        packages = try reader.array("packages") { value, path throws(LockError) in
            try PythonPackage(jsonValue: value, path: path)
        }
        try reader.finish()
    }
}

extension PythonPackage {
    /// The package as a JSON value.
    public var jsonValue: JSONValue {
        var object = ObjectBuilder()
        object.set("name", name)
        object.set("version", version)
        object.set("artifacts", .array(artifacts.map(\.jsonValue)))
        object.set("vcs", vcs?.jsonValue)
        return object.value
    }

    init(jsonValue: JSONValue, path: String) throws(LockError) {
        var reader = try ObjectReader(jsonValue, path: path)
        name = try reader.string("name")
        version = try reader.string("version")
        artifacts = try reader.array("artifacts") { value, path throws(LockError) in
            try PythonArtifact(jsonValue: value, path: path)
        }
        if let value = reader.optional("vcs") {
            vcs = try VCSPin(jsonValue: value, path: reader.childPath("vcs"))
        } else {
            vcs = nil
        }
        try reader.finish()
    }
}

extension PythonArtifact {
    /// The artifact as a JSON value.
    public var jsonValue: JSONValue {
        var object = ObjectBuilder()
        object.set("url", url)
        object.set("sha256", sha256)
        object.set("filename", filename)
        return object.value
    }

    init(jsonValue: JSONValue, path: String) throws(LockError) {
        var reader = try ObjectReader(jsonValue, path: path)
        url = try reader.string("url")
        sha256 = try reader.string("sha256")
        filename = try reader.string("filename")
        try reader.finish()
    }
}

extension VCSPin {
    /// The pin as a JSON value.
    public var jsonValue: JSONValue {
        var object = ObjectBuilder()
        object.set("url", url)
        object.set("commit", commit)
        return object.value
    }

    init(jsonValue: JSONValue, path: String) throws(LockError) {
        var reader = try ObjectReader(jsonValue, path: path)
        url = try reader.string("url")
        commit = try reader.string("commit")
        try reader.finish()
    }
}

extension ModelEntry {
    /// The model as a JSON value.
    public var jsonValue: JSONValue {
        var object = ObjectBuilder()
        object.set("path", path)
        object.set("size", size)
        object.set("sha256", sha256)
        object.set("sources", sources)
        object.set("huggingface", huggingface?.jsonValue)
        return object.value
    }

    init(jsonValue: JSONValue, path: String) throws(LockError) {
        var reader = try ObjectReader(jsonValue, path: path)
        self.path = try reader.string("path")
        size = try reader.integer("size")
        sha256 = try reader.string("sha256")
        sources = try reader.stringArray("sources")
        if let value = reader.optional("huggingface") {
            huggingface = try HuggingFaceRef(jsonValue: value, path: reader.childPath("huggingface"))
        } else {
            huggingface = nil
        }
        try reader.finish()
    }
}

extension HuggingFaceRef {
    /// The reference as a JSON value.
    public var jsonValue: JSONValue {
        var object = ObjectBuilder()
        object.set("repo", repo)
        object.set("revision", revision)
        object.set("file", file)
        return object.value
    }

    init(jsonValue: JSONValue, path: String) throws(LockError) {
        var reader = try ObjectReader(jsonValue, path: path)
        repo = try reader.string("repo")
        revision = try reader.string("revision")
        file = try reader.string("file")
        try reader.finish()
    }
}

extension WorkflowEntry {
    /// The workflow entry as a JSON value.
    public var jsonValue: JSONValue {
        var object = ObjectBuilder()
        object.set("name", name)
        object.set("path", path)
        object.set("inline", inline)
        object.set("expectedOutputs", .array(expectedOutputs.map(\.jsonValue)))
        object.set("recording", recording?.jsonValue)
        return object.value
    }

    init(jsonValue: JSONValue, path: String, schemaVersion: Int) throws(LockError) {
        var reader = try ObjectReader(jsonValue, path: path)
        try reader.refuse(["recording"], before: 2, declared: schemaVersion)
        name = try reader.string("name")
        self.path = try reader.optionalString("path")
        inline = reader.optional("inline")
        expectedOutputs = try reader.array("expectedOutputs") { value, path throws(LockError) in
            try ExpectedOutput(jsonValue: value, path: path, schemaVersion: schemaVersion)
        }
        if let value = reader.optional("recording") {
            recording = try WorkflowRecording(jsonValue: value, path: reader.childPath("recording"))
        } else {
            recording = nil
        }
        try reader.finish()
    }
}

extension WorkflowRecording {
    /// The recording as a JSON value.
    public var jsonValue: JSONValue {
        var object = ObjectBuilder()
        object.set("lockDigest", lockDigest)
        object.set("lockFields", .object(lockFields.mapValues { .string($0) }))
        object.set("seeds", .array(seeds.map(\.jsonValue)))
        return object.value
    }

    init(jsonValue: JSONValue, path: String) throws(LockError) {
        var reader = try ObjectReader(jsonValue, path: path)
        lockDigest = try reader.string("lockDigest")
        let fieldsPath = reader.childPath("lockFields")
        guard case .object(let members) = try reader.required("lockFields") else {
            throw LockError.schema(path: fieldsPath, "expected an object of item digests")
        }
        var fields: [String: String] = [:]
        for (key, value) in members {
            fields[key] = try ObjectReader.string(value, path: JSONPath.appending(fieldsPath, key: key))
        }
        lockFields = fields
        seeds = try reader.array("seeds") { value, path throws(LockError) in try SeedInput(jsonValue: value, path: path)
        }
        try reader.finish()
    }
}

extension SeedInput {
    /// The seed input as a JSON value.
    public var jsonValue: JSONValue {
        var object = ObjectBuilder()
        object.set("node", node)
        object.set("input", input)
        object.set("value", value)
        return object.value
    }

    init(jsonValue: JSONValue, path: String) throws(LockError) {
        var reader = try ObjectReader(jsonValue, path: path)
        node = try reader.string("node")
        input = try reader.string("input")
        value = try reader.integer("value")
        try reader.finish()
    }
}

extension ExpectedOutput {
    /// Members that schema version 2 added.
    static let version2Members = [
        "node", "index", "classType", "kind", "filename", "mediaType", "size", "imageDataSha256",
    ]

    /// The expected output as a JSON value.
    public var jsonValue: JSONValue {
        var object = ObjectBuilder()
        object.set("name", name)
        object.set("sha256", sha256)
        object.set("pixelsSha256", pixelsSha256)
        object.set("node", node)
        if let index { object.set("index", index) }
        object.set("classType", classType)
        object.set("kind", kind)
        object.set("filename", filename)
        object.set("mediaType", mediaType)
        if let size { object.set("size", size) }
        object.set("imageDataSha256", imageDataSha256)
        return object.value
    }

    init(jsonValue: JSONValue, path: String, schemaVersion: Int) throws(LockError) {
        var reader = try ObjectReader(jsonValue, path: path)
        try reader.refuse(Self.version2Members, before: 2, declared: schemaVersion)
        name = try reader.string("name")
        sha256 = try reader.string("sha256")
        pixelsSha256 = try reader.optionalString("pixelsSha256")
        node = try reader.optionalString("node")
        index = try reader.optionalInteger("index")
        classType = try reader.optionalString("classType")
        kind = try reader.optionalString("kind")
        filename = try reader.optionalString("filename")
        mediaType = try reader.optionalString("mediaType")
        size = try reader.optionalInteger("size")
        imageDataSha256 = try reader.optionalString("imageDataSha256")
        try reader.finish()
    }
}
