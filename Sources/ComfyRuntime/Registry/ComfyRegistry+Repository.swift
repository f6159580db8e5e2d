internal import ComfyLock
internal import ComfySupport
internal import ComfyTransport
import Foundation

extension ComfyRegistry {
    /// The git repository the registry records for node pack `id` (`GET {base}/nodes/{id}` → `repository`), for a
    /// pack a workflow names by registry id at a commit (a "nightly" install) rather than at a published version.
    /// The answer is untrusted: bounded (1 MiB), and the URL must pass the lock's git URL rule.
    public func repositoryURL(id: String) async throws -> String {
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
        guard let idPart = id.addingPercentEncoding(withAllowedCharacters: allowed) else {
            throw RuntimeError.invalidInput("registry id cannot be encoded")
        }
        let api = rewriter.rewrite("\(baseURL)/nodes/\(idPart)", kind: .model)
        guard let url = URL(string: api) else { throw RuntimeError.invalidConfiguration("bad registry URL \(api)") }
        logger.debug("registry repository lookup", metadata: ["id": "\(id)"])
        let response = try await client.send(HTTPRequest(url: url, headers: ["Accept": "application/json"]))
        let shown = Redaction.redactURL(api)
        guard response.status == 200 else {
            throw RuntimeError.notFound(
                "registry node \(Escaping.quoted(id)): \(shown) answered HTTP \(response.status)")
        }
        guard response.body.count <= 1 << 20 else {
            throw RuntimeError.invalidInput("\(shown): response larger than 1 MiB")
        }
        let value: JSONValue
        do { value = try JSONParser.parse(Array(response.body)) } catch {
            throw RuntimeError.invalidInput("\(shown): not JSON (\(error))")
        }
        guard case .string(let repository)? = value["repository"], !repository.isEmpty else {
            throw RuntimeError.invalidInput("\(shown): the response names no repository")
        }
        if let (_, message) = LockValidator.checkURL(repository, kind: .git) {
            throw RuntimeError.invalidInput("\(shown): refused repository \(Escaping.quoted(repository)): \(message)")
        }
        return repository
    }
}
