import ComfyCLI
import ComfySupport
import TestSupport
import Testing

@Suite("comfy-cli command tree")
struct HelpTests {
    @Test("the root help lists every command group")
    func rootHelpListsGroups() async throws {
        let capture = CapturingConsole()
        let code = await Console.$current.withValue(capture.console) { await CLI.run(["--help"]) }
        #expect(code == 0)
        for group in ["lock", "models", "version", "pin", "gcs", "run", "repro", "init", "store"] {
            #expect(capture.standardOutput.contains("\n  \(group) "), "missing group \(group)")
        }
    }

    @Test(
        "a bad command line exits 2 and says what is wrong",
        arguments: [["lock", "diff"], ["no-such-command"], ["lock", "import", "--from", "nowhere", "x"]])
    func usageErrorsExitTwo(arguments: [String]) async throws {
        let capture = CapturingConsole()
        let code = await Console.$current.withValue(capture.console) { await CLI.run(arguments) }
        #expect(code == 2)
        #expect(capture.standardError.contains("Error:") || capture.standardError.contains("error:"))
    }

    @Test("the real executable runs and reports its version")
    func executableVersion() throws {
        let result = try Subprocess.comfyCLI(["--version"])
        #expect(result.status == 0)
        #expect(result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines) == ComfyLockVersion.current)
    }
}
