import ComfyLock
import ComfyModels
import ComfyRuntime
import ComfyTransport
import Foundation
import TestSupport
import Testing

/// Issue 9 class 2 through `version create`: the model server echoes the request headers (the token) in its 403
/// body; neither the text nor the `--json` output, nor any file left behind, contains the token.
@Suite("Security: version create never prints a token a server echoes")
struct VersionSecretTests {
    @Test("version create (text and --json) with an echoing model server")
    func versionCreateScrubbed() async throws {
        let fixture = try RuntimeFixture()
        let token = "sekrit-\(UUID().uuidString)"
        let port = fixture.server.url("/").port!
        var env = fixture.cliEnvironment
        env[HostCredentials.variableName(scheme: "http", host: "127.0.0.1", port: port)] = token
        try fixture.server.inject(.echoHeaders(status: 403, times: 1000), path: "/vae.pt")
        let lockPath = try fixture.write(fixture.lock())
        for (index, json) in [false, true].enumerated() {
            let result = try Subprocess.comfyCLI(
                ["version", "create", "v\(index)", "--lock", lockPath, "--allow-unpinned"] + (json ? ["--json"] : []),
                environment: env)
            #expect(result.status == 2, "\(result.standardError)")
            #expect(result.standardError.contains("403"), "\(result.standardError)")
            #expect(!result.standardError.contains(token) && !result.standardOutput.contains(token))
        }
        #expect(try fixture.server.requests().contains { $0.headers["authorization"] == "Bearer \(token)" })
        for path in (FileManager.default.enumerator(atPath: fixture.temp.url.path)?.allObjects as? [String] ?? []) {
            guard !path.hasPrefix("served"), !path.hasPrefix("upstream") else { continue }
            let text = (try? String(contentsOfFile: fixture.temp.url.path + "/" + path, encoding: .utf8)) ?? ""
            #expect(!text.contains(token), "\(path)")
        }
    }
}
