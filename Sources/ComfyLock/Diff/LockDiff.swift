/// The structured differences between two locks: what was added, removed or changed per node, package, model,
/// workflow and top-level field.
public struct LockDiff: Codable, Hashable, Sendable {
    /// One difference.
    public struct Entry: Codable, Hashable, Sendable, CustomStringConvertible {
        /// The kind of difference.
        public enum Change: String, Codable, Hashable, Sendable {
            /// Present only in the new lock.
            case added
            /// Present only in the old lock.
            case removed
            /// Present in both with a different value.
            case changed
        }

        /// The kind of difference.
        public var change: Change
        /// Where: `lock`, `comfyui`, `customNodes`, `python`, `python.packages`, `models` or `workflows`.
        public var section: String
        /// Which item: node name, package name, model path, workflow name, or the field name for
        /// `lock`/`comfyui`/`python`.
        public var key: String
        /// For `changed` items: the member that differs (e.g. `commit`, `sha256`, `version`); `nil` otherwise.
        public var field: String?
        /// The old value (string values as-is, other values as canonical JSON); `nil` when added.
        public var old: String?
        /// The new value (string values as-is, other values as canonical JSON); `nil` when removed.
        public var new: String?

        /// A diff entry.
        public init(
            change: Change, section: String, key: String, field: String? = nil, old: String? = nil, new: String? = nil
        ) {
            self.change = change
            self.section = section
            self.key = key
            self.field = field
            self.old = old
            self.new = new
        }

        /// One human-readable line: `+ models checkpoints/x.safetensors`, `~ customNodes Foo: commit a → b`.
        /// Keys and values come from the locks (untrusted): they are escaped (`Escaping.escaped`) and cut at 100
        /// characters, so a hostile name cannot forge lines or drive the terminal.
        public var description: String {
            let key = Self.short(self.key)
            switch change {
            case .added: return "+ \(section) \(key)" + (new.map { ": " + Self.short($0) } ?? "")
            case .removed: return "- \(section) \(key)" + (old.map { ": " + Self.short($0) } ?? "")
            case .changed:
                let what = field.map { "\(key): \(Self.short($0))" } ?? key
                return "~ \(section) \(what): \(Self.short(old ?? "(none)")) → \(Self.short(new ?? "(none)"))"
            }
        }

        static func short(_ text: String) -> String { Escaping.escaped(text, limit: 100) }
    }

    /// Every difference, grouped by section in lock order, items sorted by key.
    public var entries: [Entry]

    /// True when the two locks are equal (same canonical bytes).
    public var isEmpty: Bool { entries.isEmpty }

    /// A diff.
    public init(entries: [Entry]) { self.entries = entries }
}

/// Computes `LockDiff`s.
public enum LockDiffer {
    /// The differences from `a` (old) to `b` (new). Collections are matched by their key (node name, package name,
    /// model path, workflow name), so reordering is not a difference. Matched items are compared member by member
    /// through their `jsonValue`, so a field added to the schema shows up in diffs with no change here.
    public static func diff(_ a: Lock, _ b: Lock) -> LockDiff {
        var entries: [LockDiff.Entry] = []
        let a = a.sorted()
        let b = b.sorted()
        let topA = a.jsonValue.objectValue ?? [:]
        let topB = b.jsonValue.objectValue ?? [:]
        for field in ["schemaVersion", "tag", "createdBy"] where topA[field] != topB[field] {
            entries.append(
                .init(
                    change: .changed, section: "lock", key: field, field: nil, old: render(topA[field]),
                    new: render(topB[field])))
        }
        fields(a.comfyui.jsonValue, b.comfyui.jsonValue, section: "comfyui", key: "comfyui", into: &entries)
        keyed(a.customNodes, b.customNodes, key: \.name, json: \.jsonValue, section: "customNodes", into: &entries)
        switch (a.python, b.python) {
        case (nil, nil): break
        case (nil, .some(let new)):
            entries.append(
                .init(
                    change: .added, section: "python", key: "python",
                    new: "\(new.version) \(new.platform), \(new.packages.count) packages"))
            keyed([], new.packages, key: \.name, json: \.jsonValue, section: "python.packages", into: &entries)
        case (.some(let old), nil):
            entries.append(
                .init(
                    change: .removed, section: "python", key: "python",
                    old: "\(old.version) \(old.platform), \(old.packages.count) packages"))
            keyed(old.packages, [], key: \.name, json: \.jsonValue, section: "python.packages", into: &entries)
        case (.some(let old), .some(let new)):
            var oldTop = old.jsonValue.objectValue ?? [:]
            var newTop = new.jsonValue.objectValue ?? [:]
            oldTop["packages"] = nil
            newTop["packages"] = nil
            for field in oldTop.keys.sorted() where oldTop[field] != newTop[field] {
                entries.append(
                    .init(
                        change: .changed, section: "python", key: field, old: render(oldTop[field]),
                        new: render(newTop[field])))
            }
            keyed(
                old.packages, new.packages, key: \.name, json: \.jsonValue, section: "python.packages", into: &entries)
        }
        keyed(a.models, b.models, key: \.path, json: \.jsonValue, section: "models", into: &entries)
        keyed(a.workflows, b.workflows, key: \.name, json: \.jsonValue, section: "workflows", into: &entries)
        return LockDiff(entries: entries)
    }

    static func keyed<T>(
        _ old: [T], _ new: [T], key: KeyPath<T, String>, json: KeyPath<T, JSONValue>, section: String,
        into entries: inout [LockDiff.Entry]
    ) {
        var oldByKey: [String: T] = [:]
        for item in old where oldByKey[item[keyPath: key]] == nil { oldByKey[item[keyPath: key]] = item }
        var newByKey: [String: T] = [:]
        for item in new where newByKey[item[keyPath: key]] == nil { newByKey[item[keyPath: key]] = item }
        let keys = Set(oldByKey.keys).union(newByKey.keys).sorted(by: CanonicalJSON.utf16Precedes)
        for name in keys {
            switch (oldByKey[name], newByKey[name]) {
            case (nil, .some(let item)):
                entries.append(.init(change: .added, section: section, key: name, new: summary(item[keyPath: json])))
            case (.some(let item), nil):
                entries.append(.init(change: .removed, section: section, key: name, old: summary(item[keyPath: json])))
            case (.some(let before), .some(let after)):
                fields(before[keyPath: json], after[keyPath: json], section: section, key: name, into: &entries)
            case (nil, nil): break
            }
        }
    }

    static func fields(
        _ old: JSONValue, _ new: JSONValue, section: String, key: String, into entries: inout [LockDiff.Entry]
    ) {
        let oldMembers = old.objectValue ?? [:]
        let newMembers = new.objectValue ?? [:]
        let names = Set(oldMembers.keys).union(newMembers.keys).sorted(by: CanonicalJSON.utf16Precedes)
        for name in names where oldMembers[name] != newMembers[name] {
            entries.append(
                .init(
                    change: .changed, section: section, key: key, field: name, old: render(oldMembers[name]),
                    new: render(newMembers[name])))
        }
    }

    /// Strings as-is, anything else as canonical JSON; `nil` stays `nil`.
    static func render(_ value: JSONValue?) -> String? {
        guard let value else { return nil }
        if case .string(let string) = value { return string }
        return String(decoding: CanonicalJSON.encode(value), as: UTF8.self)
    }

    /// A one-line summary of an added/removed item: its identifying fields.
    static func summary(_ value: JSONValue) -> String {
        guard let members = value.objectValue else { return render(value) ?? "" }
        var parts: [String] = []
        for field in ["kind", "version", "commit", "registryId", "sha256", "treeHash", "size", "path"] {
            if let member = members[field], let text = render(member) { parts.append("\(field) \(text)") }
        }
        return parts.joined(separator: ", ")
    }
}
