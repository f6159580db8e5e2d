public import ComfyLock

/// One output a workflow run produced, as reproducibility checks see it: where it came from (node, index among that
/// node's outputs) and what it was (hashes). Built from ComfyServer's `WorkflowOutput`s.
public struct ReproOutput: Codable, Hashable, Sendable {
    /// The node id in the API graph.
    public var node: String
    /// Position among that node's outputs, from 0, in the order ComfyUI's history lists them.
    public var index: Int
    /// The node's class (`SaveImage`).
    public var classType: String
    /// `image`, `video`, `audio`, `text` or `file`.
    public var kind: String
    /// File name ComfyUI gave it (informational; ComfyUI numbers files per run), or nil for text outputs.
    public var filename: String?
    /// Media type, when known.
    public var mediaType: String?
    /// Size in bytes.
    public var size: Int64
    /// SHA-256 of the bytes (of the UTF-8 text for text outputs).
    public var sha256: String
    /// For PNGs: SHA-256 over the image chunks without metadata (`PNGChunks.imageDataSHA256`).
    public var imageDataSHA256: String?

    /// An output.
    public init(
        node: String, index: Int, classType: String, kind: String, filename: String?, mediaType: String?, size: Int64,
        sha256: String, imageDataSHA256: String?
    ) {
        self.node = node
        self.index = index
        self.classType = classType
        self.kind = kind
        self.filename = filename
        self.mediaType = mediaType
        self.size = size
        self.sha256 = sha256
        self.imageDataSHA256 = imageDataSHA256
    }

    /// `NODE:INDEX`: how recorded outputs are named and matched.
    public var name: String { "\(node):\(index)" }

    /// The lock's form of this output (schema version 2 members filled).
    public var expected: ExpectedOutput {
        ExpectedOutput(
            name: name, sha256: sha256, node: node, index: Int64(index), classType: classType, kind: kind,
            filename: filename, mediaType: mediaType, size: size, imageDataSha256: imageDataSHA256)
    }
}

/// How one output compares with its expectation.
public enum ReproOutputStatus: String, Codable, Hashable, Sendable {
    /// Byte for byte the same.
    case equal
    /// PNG whose image chunks are equal but whose bytes differ: only metadata (tEXt/iTXt/zTXt/tIME) changed.
    case metadataOnly = "metadata-only"
    /// PNG whose image data differs.
    case imageData = "image-data"
    /// A non-PNG output whose bytes differ.
    case content
    /// Expected but not produced.
    case missing
    /// Produced but not expected.
    case extra
}

/// One output's comparison.
public struct ReproOutputComparison: Codable, Hashable, Sendable, CustomStringConvertible {
    /// `NODE:INDEX`.
    public var name: String
    /// The node id.
    public var node: String
    /// The node's class, from the expectation (or the run for extra outputs).
    public var classType: String?
    /// The verdict.
    public var status: ReproOutputStatus
    /// Expected SHA-256 (nil for extra outputs).
    public var expectedSHA256: String?
    /// Actual SHA-256 (nil for missing outputs).
    public var actualSHA256: String?
    /// The file name at recording time.
    public var expectedFilename: String?
    /// The file name of this run.
    public var actualFilename: String?

    /// `node 9 (SaveImage) output 9:0 probe_00001_.png: image data differs (sha256 0123… → 4567…)`.
    public var description: String {
        let what =
            "node \(node) (\(classType ?? "?")) output \(name)"
            + ((expectedFilename ?? actualFilename).map { " \($0)" } ?? "")
        let hashes =
            "sha256 \(expectedSHA256.map { String($0.prefix(12)) } ?? "-") → "
            + (actualSHA256.map { String($0.prefix(12)) } ?? "-")
        switch status {
        case .equal: return "\(what): equal"
        case .metadataOnly: return "\(what): metadata only (image data equal; \(hashes))"
        case .imageData: return "\(what): image data differs (\(hashes))"
        case .content: return "\(what): content differs (\(hashes))"
        case .missing: return "\(what): missing (expected, not produced)"
        case .extra: return "\(what): extra (produced, not expected)"
        }
    }
}

/// Output-by-output comparison: outputs matched by `NODE:INDEX`.
public enum ReproComparer {
    /// Compares a run with the expected outputs. Every expected and every produced output appears once, in the
    /// expectation's order, then the extra ones.
    public static func compare(expected: [ExpectedOutput], actual: [ReproOutput]) -> [ReproOutputComparison] {
        var produced = Dictionary(actual.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var out: [ReproOutputComparison] = []
        for want in expected {
            let node = want.node ?? String(want.name.split(separator: ":").first ?? "")
            guard let got = produced.removeValue(forKey: want.name) else {
                out.append(
                    .init(
                        name: want.name, node: node, classType: want.classType, status: .missing,
                        expectedSHA256: want.sha256, actualSHA256: nil, expectedFilename: want.filename,
                        actualFilename: nil))
                continue
            }
            let status: ReproOutputStatus
            if got.sha256 == want.sha256 {
                status = .equal
            } else if let a = want.imageDataSha256, let b = got.imageDataSHA256 {
                status = a == b ? .metadataOnly : .imageData
            } else {
                status = .content
            }
            out.append(
                .init(
                    name: want.name, node: node, classType: want.classType ?? got.classType, status: status,
                    expectedSHA256: want.sha256, actualSHA256: got.sha256, expectedFilename: want.filename,
                    actualFilename: got.filename))
        }
        for got in actual where produced[got.name] != nil {
            out.append(
                .init(
                    name: got.name, node: got.node, classType: got.classType, status: .extra, expectedSHA256: nil,
                    actualSHA256: got.sha256, expectedFilename: nil, actualFilename: got.filename))
        }
        return out
    }
}

/// The seed inputs of an API-format graph.
public enum ReproSeeds {
    /// The largest integer JSON (IEEE doubles) carries exactly.
    public static let maxExact: Double = 9_007_199_254_740_992

    /// True for input names that hold a seed: `seed`, `noise_seed`, anything ending in `_seed`.
    public static func isSeedInput(_ name: String) -> Bool {
        name == "seed" || name.hasSuffix("_seed")
    }

    /// Every literal integer seed input of `graph`, sorted by node then input. Throws when a seed is not an integer
    /// or is beyond 2^53 (the lock could not carry it exactly).
    public static func seeds(in graph: JSONValue) throws(ReproError) -> [SeedInput] {
        guard case .object(let nodes) = graph else { return [] }
        var seeds: [SeedInput] = []
        for (id, node) in nodes {
            guard case .object(let inputs)? = node["inputs"] else { continue }
            for (name, value) in inputs where isSeedInput(name) {
                guard case .number(let number) = value else { continue }  // a link or another type: not a literal
                guard number == number.rounded(.towardZero), number.magnitude <= maxExact else {
                    throw .seedNotExact(node: id, input: name)
                }
                seeds.append(SeedInput(node: id, input: name, value: Int64(number)))
            }
        }
        return seeds.sorted {
            $0.node != $1.node
                ? CanonicalJSON.utf16Precedes($0.node, $1.node)
                : CanonicalJSON.utf16Precedes($0.input, $1.input)
        }
    }
}

/// Errors of `repro record` / `repro check`.
public struct ReproError: Error, CustomStringConvertible, Sendable {
    private enum Code: Sendable { case seed, workflow, lock, run, notFound }
    private let code: Code
    /// What went wrong.
    public let message: String

    private init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The message.
    public var description: String { message }

    /// A seed cannot be stored exactly.
    public static func seedNotExact(node: String, input: String) -> ReproError {
        ReproError(
            .seed,
            "seed input \(Escaping.escape(input)) of node \(Escaping.escape(node)) is not an integer of magnitude at "
                + "most 2^53; a lock (JSON) cannot carry it exactly — use a smaller seed")
    }

    /// The workflow cannot be used.
    public static func workflow(_ message: String) -> ReproError { ReproError(.workflow, message) }

    /// The lock does not fit the request.
    public static func lock(_ message: String) -> ReproError { ReproError(.lock, message) }

    /// Running the workflow failed.
    public static func run(_ message: String) -> ReproError { ReproError(.run, message) }

    /// No recorded workflow matches.
    public static func notFound(_ message: String) -> ReproError { ReproError(.notFound, message) }

    /// True when no recorded workflow matched the request.
    public var isNotFound: Bool { code == .notFound }
}
