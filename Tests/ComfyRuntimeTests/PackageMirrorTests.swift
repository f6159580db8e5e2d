import ComfyRuntime
import Foundation
import TestSupport
import Testing

/// Package mirrors: `COMFYLOCK_PACKAGE_MIRROR` and `packages:` lines of the mirrors file rewrite pinned Python
/// artifact URLs (what `pin wheelhouse` downloads), and nothing else. The end-to-end use (a wheel fetched from a
/// loopback mirror while the lock names an unresolvable host) is in RunScriptTests.
@Suite("Package mirrors")
struct PackageMirrorTests {
    @Test("COMFYLOCK_PACKAGE_MIRROR applies to package URLs only")
    func environmentPairs() throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        let rewriter = try URLRewriter.fromEnvironment([
            "COMFYLOCK_PACKAGE_MIRROR": "https://files.pythonhosted.org/=http://pypi.internal/files/",
            "HOME": temp.path,
        ])
        let url = "https://files.pythonhosted.org/packages/aa/pillow-12.0.0-cp311-cp311-linux_x86_64.whl"
        #expect(
            rewriter.rewrite(url, kind: .package)
                == "http://pypi.internal/files/packages/aa/pillow-12.0.0-cp311-cp311-linux_x86_64.whl")
        #expect(rewriter.rewrite(url, kind: .model) == url)
        #expect(rewriter.rewrite(url, kind: .git) == url)
    }

    @Test("A mirrors file's packages: lines are scoped; unscoped lines apply to packages too")
    func mirrorsFile() throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        let file = temp.appending("mirrors.conf")
        try """
        packages: https://files.pythonhosted.org/ = https://artifactory.internal/pypi-files/
        https://download.pytorch.org/ = https://mirror.internal/pytorch/
        """.write(to: file, atomically: true, encoding: .utf8)
        let rewriter = try URLRewriter.fromEnvironment(["COMFYLOCK_MIRRORS": file.path, "HOME": temp.path])
        #expect(
            rewriter.rewrite("https://files.pythonhosted.org/p/x.whl", kind: .package)
                == "https://artifactory.internal/pypi-files/p/x.whl")
        #expect(
            rewriter.rewrite("https://files.pythonhosted.org/p/x.whl", kind: .model)
                == "https://files.pythonhosted.org/p/x.whl")
        #expect(
            rewriter.rewrite("https://download.pytorch.org/whl/cpu/t.whl", kind: .package)
                == "https://mirror.internal/pytorch/whl/cpu/t.whl")
    }

    @Test("A malformed COMFYLOCK_PACKAGE_MIRROR is an error naming the variable")
    func malformed() throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        let error = #expect(throws: (any Error).self) {
            try URLRewriter.fromEnvironment(["COMFYLOCK_PACKAGE_MIRROR": "no-equals-sign", "HOME": temp.path])
        }
        #expect("\(error.map { "\($0)" } ?? "")".contains("COMFYLOCK_PACKAGE_MIRROR"))
    }
}
