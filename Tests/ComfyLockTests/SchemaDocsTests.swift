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
}
