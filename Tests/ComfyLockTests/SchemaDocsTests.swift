import ComfyLock
import Foundation
import TestSupport
import Testing

/// Keeps docs/lock.schema.json and docs/lock-format.md in step with the schema types.
@Suite("lock schema documentation")
struct SchemaDocsTests {
    /// Every member name used anywhere in a lock that exercises every field, with the object it belongs to.
    static func memberNames(_ value: JSONValue, skipInline: Bool = true) -> Set<String> {
        var names: Set<String> = []
        switch value {
        case .object(let members):
            for (key, child) in members {
                names.insert(key)
                if skipInline && (key == "inline" || key == "lockFields") { continue }  // free-form maps
                names.formUnion(memberNames(child))
            }
        case .array(let elements):
            for element in elements { names.formUnion(memberNames(element)) }
        default: break
        }
        return names
    }

    @Test("the JSON Schema is valid JSON and declares every member the encoder writes")
    func schemaCoversFields() throws {
        let schemaBytes = Array(
            try Data(contentsOf: TestPaths.repositoryRoot.appendingPathComponent("docs/lock.schema.json")))
        let schema = try JSONParser.parse(schemaBytes)
        let declared = Self.declaredProperties(schema)
        for name in Self.memberNames(Fixtures.fullLock().jsonValue).union(
            Self.memberNames(Fixtures.recordedLock().jsonValue))
        {
            #expect(declared.contains(name), "docs/lock.schema.json does not declare \"\(name)\"")
        }
        #expect(schema["properties"]?["schemaVersion"]?["enum"] == [1, 2])
    }

    @Test("lock-format.md describes every member")
    func formatDocCoversFields() throws {
        let text = try String(
            contentsOf: TestPaths.repositoryRoot.appendingPathComponent("docs/lock-format.md"), encoding: .utf8)
        for name in Self.memberNames(Fixtures.fullLock().jsonValue).union(
            Self.memberNames(Fixtures.recordedLock().jsonValue))
        {
            #expect(
                text.contains("`\(name)`") || text.contains(".\(name)`") || text.contains(".\(name)[]`"),
                "docs/lock-format.md does not mention \(name)")
        }
    }

    static func declaredProperties(_ value: JSONValue) -> Set<String> {
        var names: Set<String> = []
        switch value {
        case .object(let members):
            if case .object(let properties)? = members["properties"] { names.formUnion(properties.keys) }
            for child in members.values { names.formUnion(declaredProperties(child)) }
        case .array(let elements):
            for element in elements { names.formUnion(declaredProperties(element)) }
        default: break
        }
        return names
    }

    // MARK: - Schema members against the decoder, path by path

    /// The member paths the schema declares (`models[].sources`, `python.packages[].artifacts[].url`, ...), following
    /// `$ref`, `items` and the `allOf`/`anyOf`/`oneOf`/`then` branches (not `if`/`not`, which only constrain).
    static func schemaPaths(_ schema: JSONValue, root: JSONValue, path: String, into paths: inout Set<String>) {
        guard case .object(let members) = schema else { return }
        if case .string(let ref)? = members["$ref"], ref.hasPrefix("#/$defs/"),
            let target = root["$defs"]?[String(ref.dropFirst("#/$defs/".count))]
        {
            schemaPaths(target, root: root, path: path, into: &paths)
        }
        if case .object(let properties)? = members["properties"] {
            for (name, child) in properties {
                let childPath = path.isEmpty ? name : path + "." + name
                paths.insert(childPath)
                schemaPaths(child, root: root, path: childPath, into: &paths)
            }
        }
        if let items = members["items"] { schemaPaths(items, root: root, path: path + "[]", into: &paths) }
        for key in ["allOf", "anyOf", "oneOf"] {
            for branch in members[key]?.arrayValue ?? [] { schemaPaths(branch, root: root, path: path, into: &paths) }
        }
        if let then = members["then"] { schemaPaths(then, root: root, path: path, into: &paths) }
    }

    /// Members whose value is free-form for the schema: an API-format workflow graph, a map keyed by item names.
    static let freeForm: Set<String> = ["inline", "lockFields"]

    /// The member paths a lock's JSON form uses; free-form members are not descended into.
    static func instancePaths(_ value: JSONValue, path: String, into paths: inout Set<String>) {
        switch value {
        case .object(let members):
            for (name, child) in members {
                let childPath = path.isEmpty ? name : path + "." + name
                paths.insert(childPath)
                if !freeForm.contains(name) { instancePaths(child, path: childPath, into: &paths) }
            }
        case .array(let elements):
            for element in elements { instancePaths(element, path: path + "[]", into: &paths) }
        default: break
        }
    }

    @Test("every member the schema declares is one the decoder reads back, at the same path, and vice versa")
    func schemaMembersAgreeWithDecoder() throws {
        let schema = try JSONParser.parse(
            Array(try Data(contentsOf: TestPaths.repositoryRoot.appendingPathComponent("docs/lock.schema.json"))))
        var declared: Set<String> = []
        Self.schemaPaths(schema, root: schema, path: "", into: &declared)
        // Fixtures.fullLock exercises every field of the Swift types; the strict decoder must read its JSON form back
        // unchanged, so every path in it is a member the decoder knows.
        var used: Set<String> = []
        for lock in [Fixtures.fullLock(), Fixtures.minimalLock(), Fixtures.recordedLock()] {
            let decoded = try LockFile.decode(LockFile.encode(lock))
            #expect(decoded == lock.sorted())
            Self.instancePaths(lock.jsonValue, path: "", into: &used)
        }
        for path in used.subtracting(declared).sorted() {
            Issue.record("the decoder writes and reads \(path), which docs/lock.schema.json does not declare there")
        }
        for path in declared.subtracting(used).sorted() {
            Issue.record(
                "docs/lock.schema.json declares \(path), which the decoder does not read back (or Fixtures.fullLock misses it)"
            )
        }
        #expect(declared.count > 40)
    }

    @Test("the decoder refuses a member the schema does not declare, in every object of a lock")
    func decoderRefusesUndeclaredMembers() throws {
        for json in [Fixtures.fullLock().jsonValue, Fixtures.recordedLock().jsonValue] {
            try Self.probeUndeclaredMembers(json)
        }
    }

    static func probeUndeclaredMembers(_ json: JSONValue) throws {
        let objects = Self.objectLocations(json)
        #expect(objects.count > 10)
        for location in objects {
            let probed = Self.adding("undeclaredMember", at: location[...], to: json)
            #expect(throws: LockError.self, "an unknown member at \(location) was accepted") {
                try LockFile.decode(probed)
            }
        }
    }

    /// One step into a JSON value: a member name or an array index.
    enum Step: CustomStringConvertible {
        case member(String), index(Int)
        var description: String {
            switch self {
            case .member(let name): ".\(name)"
            case .index(let index): "[\(index)]"
            }
        }
    }

    /// The location of every object (but not inside free-form `inline` workflows).
    static func objectLocations(_ value: JSONValue, at location: [Step] = []) -> [[Step]] {
        switch value {
        case .object(let members):
            return [location]
                + members.filter { !freeForm.contains($0.key) }.flatMap {
                    objectLocations($0.value, at: location + [.member($0.key)])
                }
        case .array(let elements):
            return elements.enumerated().flatMap { objectLocations($0.element, at: location + [.index($0.offset)]) }
        default:
            return []
        }
    }

    static func adding(_ name: String, at location: ArraySlice<Step>, to value: JSONValue) -> JSONValue {
        switch (location.first, value) {
        case (nil, .object(var members)):
            members[name] = .string("x")
            return .object(members)
        case (.member(let key)?, .object(var members)):
            members[key] = adding(name, at: location.dropFirst(), to: members[key] ?? .null)
            return .object(members)
        case (.index(let index)?, .array(var elements)):
            elements[index] = adding(name, at: location.dropFirst(), to: elements[index])
            return .array(elements)
        default:
            return value
        }
    }
}
