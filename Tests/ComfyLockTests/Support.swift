import ComfyLock
import Foundation
import TestSupport

/// Fixture locations and sample locks shared by the ComfyLock tests.
enum Fixtures {
    static let jcs = TestPaths.repositoryRoot.appendingPathComponent("Tests/Fixtures/vectors/jcs")
    static let imports = TestPaths.repositoryRoot.appendingPathComponent("Tests/Fixtures/import")

    static func bytes(_ url: URL) throws -> [UInt8] { Array(try Data(contentsOf: url)) }

    static let commitA = String(repeating: "a", count: 40)
    static let commitB = "0123456789abcdef0123456789abcdef01234567"
    static let shaA = String(repeating: "a", count: 64)
    static let shaB = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

    /// A lock exercising every field of the schema.
    static func fullLock() -> Lock {
        Lock(
            tag: "sdxl-prod",
            createdBy: "comfylock 0.1.0",
            comfyui: ComfyUIPin(url: "https://github.com/comfyanonymous/ComfyUI", commit: commitB, ref: "v0.3.64"),
            customNodes: [
                CustomNode(
                    name: "was-node-suite", kind: .registry,
                    url: "https://cdn.comfy.org/was-node-suite-comfyui/1.0.2/node.zip",
                    registryId: "was-node-suite-comfyui",
                    version: "1.0.2", sha256: shaB, treeHash: shaA),
                CustomNode(
                    name: "ComfyUI-Impact-Pack", kind: .git, url: "https://github.com/ltdrdata/ComfyUI-Impact-Pack",
                    commit: commitA),
                CustomNode(
                    name: "helper.py", kind: .file, url: "https://example.com/helper.py", sha256: shaA, enabled: false),
            ],
            python: PythonPins(
                version: "3.11.2", platform: "manylinux_2_36_x86_64", indexUrls: ["https://pypi.org/simple"],
                packages: [
                    PythonPackage(
                        name: "torch", version: "2.5.1",
                        artifacts: [
                            PythonArtifact(
                                url:
                                    "https://files.pythonhosted.org/packages/torch-2.5.1-cp311-cp311-manylinux1_x86_64.whl",
                                sha256: shaB, filename: "torch-2.5.1-cp311-cp311-manylinux1_x86_64.whl")
                        ]),
                    PythonPackage(
                        name: "comfy-extras", version: "0.1.0+g0123456",
                        vcs: VCSPin(url: "https://github.com/example/comfy-extras", commit: commitA)),
                ]),
            models: [
                ModelEntry(
                    path: "loras/detail.safetensors", size: 144_000_000, sha256: shaA,
                    sources: ["https://civitai.com/api/download/models/1234"]),
                ModelEntry(
                    path: "checkpoints/sd_xl_base_1.0.safetensors", size: 6_938_078_334, sha256: shaB,
                    sources: [
                        "https://huggingface.co/stabilityai/stable-diffusion-xl-base-1.0/resolve/462165984030d82259a11f4367a4eed129e94a7b/sd_xl_base_1.0.safetensors",
                        "https://mirror.example.com/sd_xl_base_1.0.safetensors",
                    ],
                    huggingface: HuggingFaceRef(
                        repo: "stabilityai/stable-diffusion-xl-base-1.0",
                        revision: "462165984030d82259a11f4367a4eed129e94a7b", file: "sd_xl_base_1.0.safetensors")),
            ],
            workflows: [
                WorkflowEntry(
                    name: "probe",
                    inline: [
                        "1": [
                            "class_type": "EmptyImage",
                            "inputs": ["width": 64, "height": 64, "batch_size": 1, "color": 16_711_680],
                        ],
                        "2": ["class_type": "SaveImage", "inputs": ["images": ["1", 0], "filename_prefix": "probe"]],
                    ],
                    expectedOutputs: [ExpectedOutput(name: "probe_00001_.png", sha256: shaA, pixelsSha256: shaB)]),
                WorkflowEntry(name: "base", path: "workflows/base.json"),
            ])
    }

    /// The smallest lock that validates.
    /// The full lock plus a workflow recorded the way `repro record` writes it (schema version 2).
    static func recordedLock() -> Lock {
        var lock = fullLock()
        let graph: JSONValue = [
            "1": ["class_type": "EmptyImage", "inputs": ["width": 8, "height": 8, "batch_size": 1, "color": 0]],
            "2": ["class_type": "SeededNoise", "inputs": ["image": ["1", 0], "seed": 42]],
            "3": ["class_type": "SaveImage", "inputs": ["images": ["2", 0], "filename_prefix": "noise"]],
        ]
        lock.workflows.append(
            WorkflowEntry(
                name: "noise", inline: graph,
                expectedOutputs: [
                    ExpectedOutput(
                        name: "3:0", sha256: shaA, node: "3", index: 0, classType: "SaveImage", kind: "image",
                        filename: "noise_00001_.png", mediaType: "image/png", size: 123, imageDataSha256: shaB)
                ],
                recording: WorkflowRecording(recording: lock, seeds: [SeedInput(node: "2", input: "seed", value: 42)])))
        return lock.sorted()
    }

    static func minimalLock() -> Lock {
        Lock(
            tag: "minimal", createdBy: "comfylock 0.1.0",
            comfyui: ComfyUIPin(url: "https://github.com/comfyanonymous/ComfyUI", commit: commitB))
    }
}

extension Array where Element == UInt8 {
    var text: String { String(decoding: self, as: UTF8.self) }
}
