import ComfyLock
import Testing

@Suite("lock diff")
struct DiffTests {
    @Test("equal locks (even reordered) have an empty diff")
    func equal() {
        var b = Fixtures.fullLock()
        b.models.reverse()
        #expect(LockDiffer.diff(Fixtures.fullLock(), b).isEmpty)
    }

    @Test("added, removed and changed items per section")
    func changes() {
        let a = Fixtures.fullLock()
        var b = a
        b.comfyui.commit = Fixtures.commitA
        b.customNodes.removeAll { $0.name == "helper.py" }
        b.customNodes.append(
            CustomNode(name: "new-node", kind: .git, url: "https://github.com/x/new-node", commit: Fixtures.commitB))
        b.customNodes[1].commit = Fixtures.commitB  // ComfyUI-Impact-Pack
        b.python!.packages[0].version = "2.6.0"
        b.models[0].sha256 = Fixtures.shaB
        b.workflows.removeAll()
        b.tag = "next"
        let diff = LockDiffer.diff(a, b)
        let lines = diff.entries.map(\.description)
        #expect(
            diff.entries.contains(.init(change: .changed, section: "lock", key: "tag", old: "sdxl-prod", new: "next")))
        #expect(
            diff.entries.contains(
                .init(
                    change: .changed, section: "comfyui", key: "comfyui", field: "commit", old: Fixtures.commitB,
                    new: Fixtures.commitA)))
        #expect(diff.entries.contains { $0.change == .removed && $0.section == "customNodes" && $0.key == "helper.py" })
        #expect(diff.entries.contains { $0.change == .added && $0.section == "customNodes" && $0.key == "new-node" })
        #expect(
            diff.entries.contains(
                .init(
                    change: .changed, section: "customNodes", key: "ComfyUI-Impact-Pack", field: "commit",
                    old: Fixtures.commitA, new: Fixtures.commitB)))
        #expect(
            diff.entries.contains(
                .init(
                    change: .changed, section: "python.packages", key: "torch", field: "version", old: "2.5.1",
                    new: "2.6.0")))
        #expect(
            diff.entries.contains(
                .init(
                    change: .changed, section: "models", key: "loras/detail.safetensors", field: "sha256",
                    old: Fixtures.shaA, new: Fixtures.shaB)))
        #expect(diff.entries.filter { $0.section == "workflows" }.map(\.change) == [.removed, .removed])
        #expect(lines.contains("- customNodes helper.py: kind file, sha256 \(Fixtures.shaA)"))
        #expect(diff.entries.count == 9)
    }

    @Test("python section added or removed")
    func pythonPresence() {
        let a = Fixtures.minimalLock()
        var b = a
        b.python = PythonPins(
            version: "3.11", platform: "linux_x86_64", packages: [PythonPackage(name: "numpy", version: "2.0.0")])
        let diff = LockDiffer.diff(a, b)
        #expect(diff.entries.map(\.change) == [.added, .added])
        #expect(diff.entries.map(\.section) == ["python", "python.packages"])
        #expect(LockDiffer.diff(b, a).entries.map(\.change) == [.removed, .removed])
    }
}
