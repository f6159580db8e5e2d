import ComfyLock
import Foundation
import TestSupport
import Testing

@Suite("the committed example lock")
struct ExampleLockTests {
    static let url = TestPaths.repositoryRoot.appendingPathComponent("lockfiles/example.lock.json")

    @Test("lockfiles/example.lock.json validates, is canonical and pins Python artifacts")
    func exampleIsValid() throws {
        let bytes = Array(try Data(contentsOf: Self.url))
        let lock = try LockFile.decode(bytes)
        #expect(LockFile.encode(lock) == bytes, "not canonical: run scripts/make-example-lock.sh")
        let errors = LockValidator.validate(lock).filter { $0.severity == .error }
        #expect(errors.isEmpty, "\(errors)")
        let python = try #require(lock.python)
        #expect(!python.packages.isEmpty)
        #expect(python.packages.allSatisfy { !$0.artifacts.isEmpty })
        #expect(!lock.models.isEmpty && !lock.customNodes.isEmpty)
    }
}
