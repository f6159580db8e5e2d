internal import ComfyCrypto

/// One lock item that changed between a workflow's recording and now.
public struct LockFieldChange: Codable, Hashable, Sendable, CustomStringConvertible {
    /// The item key (`python.packages[torch]`, `models[checkpoints/x.safetensors]`, `comfyui`, …).
    public var field: String
    /// `changed`, `added` (in the lock now, not at recording time) or `removed`.
    public var change: String

    /// A change.
    public init(field: String, change: String) {
        self.field = field
        self.change = change
    }

    /// `python.packages[torch] changed`.
    public var description: String { "\(field) \(change)" }
}

extension LockFile {
    /// The digest a workflow recording keeps (`WorkflowRecording.lockDigest`): `digest` of the lock with its
    /// `workflows` emptied, encoded as the schema version that content needs (so 1 unless something outside the
    /// workflows needs more). Recording writes only the workflows section, so it never changes this digest.
    public static func recordingDigest(_ lock: Lock) -> String {
        var stripped = lock
        stripped.workflows = []
        return digest(stripped)
    }

    /// One SHA-256 per lock item, keyed by item: `tag`, `createdBy`, `comfyui`, `customNodes[NAME]`,
    /// `python.version`, `python.platform`, `python.indexUrls`, `python.packages[NAME]`, `models[PATH]`. Each value
    /// is the SHA-256 of the item's canonical JSON (collections inside sorted as in the lock). Workflows are not
    /// included. Kept in `WorkflowRecording.lockFields` to name what changed since a recording.
    public static func recordingFields(_ lock: Lock) -> [String: String] {
        let lock = lock.sorted()
        func hash(_ value: JSONValue) -> String { SHA256.hash(CanonicalJSON.encode(value)).hex }
        var fields: [String: String] = [
            "tag": hash(.string(lock.tag)), "createdBy": hash(.string(lock.createdBy)),
            "comfyui": hash(lock.comfyui.jsonValue),
        ]
        for node in lock.customNodes { fields["customNodes[\(node.name)]"] = hash(node.jsonValue) }
        if let python = lock.python {
            fields["python.version"] = hash(.string(python.version))
            fields["python.platform"] = hash(.string(python.platform))
            fields["python.indexUrls"] = hash(.array(python.indexUrls.map { .string($0) }))
            for package in python.packages { fields["python.packages[\(package.name)]"] = hash(package.jsonValue) }
        }
        for model in lock.models { fields["models[\(model.path)]"] = hash(model.jsonValue) }
        return fields
    }
}

extension WorkflowRecording {
    /// A recording of `lock` as it is now, with `seeds`.
    public init(recording lock: Lock, seeds: [SeedInput]) {
        self.init(
            lockDigest: LockFile.recordingDigest(lock), lockFields: LockFile.recordingFields(lock), seeds: seeds)
    }

    /// The lock items that differ between this recording and `lock`, sorted by key; empty when
    /// `LockFile.recordingDigest(lock) == lockDigest`. When the digest differs but no item does (an edited
    /// `lockFields`, or a change the item keys do not cover), one `lock changed` entry is returned.
    public func changes(since lock: Lock) -> [LockFieldChange] {
        guard LockFile.recordingDigest(lock) != lockDigest else { return [] }
        let now = LockFile.recordingFields(lock)
        var changes: [LockFieldChange] = []
        for key in Set(now.keys).union(lockFields.keys).sorted(by: CanonicalJSON.utf16Precedes) {
            switch (lockFields[key], now[key]) {
            case (nil, _?): changes.append(.init(field: key, change: "added"))
            case (_?, nil): changes.append(.init(field: key, change: "removed"))
            case (let a?, let b?) where a != b: changes.append(.init(field: key, change: "changed"))
            default: break
            }
        }
        return changes.isEmpty ? [.init(field: "lock", change: "changed")] : changes
    }
}
