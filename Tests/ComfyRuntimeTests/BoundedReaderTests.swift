import ComfyLock
import Foundation
import TestSupport
import Testing

@testable import ComfyRuntime

/// The package's one TOML reader (`TOMLReader`) and the `extra_model_paths.yaml` reader over its one YAML reader
/// (`ComfyLock.YAMLReader`): files as uv and ComfyUI write them parse; hostile ones are refused, bounded.
@Suite("Bounded TOML and YAML readers")
struct BoundedReaderTests {
    static let pylock = TestPaths.repositoryRoot.appendingPathComponent("Tests/Fixtures/toml/pylock.uv-0.13.toml")

    @Test("a real uv pylock.toml (uv 0.13, --universal, markers, many wheels) parses, also with CRLF line ends")
    func realPylock() throws {
        let text = try String(contentsOf: Self.pylock, encoding: .utf8)
        let document = try TOMLReader.parse(text)
        #expect(document["lock-version"]?.string == "1.0")
        #expect(document["created-by"]?.string == "uv")
        let packages = try #require(document["packages"]?.array)
        #expect(
            packages.compactMap { $0["name"]?.string } == [
                "certifi", "charset-normalizer", "colorama", "idna", "pyyaml", "requests", "urllib3",
            ])
        #expect(packages[2]["marker"]?.string == "sys_platform == 'win32'")
        let yaml = try #require(packages.first { $0["name"]?.string == "pyyaml" })
        #expect((yaml["wheels"]?.array?.count ?? 0) > 10)
        #expect(yaml["sdist"]?["upload-time"] != nil, "datetimes are kept as scalars")
        let pins = try PythonPinner.packages(fromPylock: text)
        #expect(pins.map(\.name).contains("charset-normalizer"))
        #expect(pins.allSatisfy { !$0.artifacts.isEmpty && $0.artifacts.allSatisfy { $0.sha256.count == 64 } })
        let crlf = text.replacingOccurrences(of: "\n", with: "\r\n")
        #expect(try TOMLReader.parse(crlf) == document)
    }

    @Test(
        "pyproject.toml as ComfyUI and comfy-cli node templates write it: dotted keys, sub-tables, comments in arrays")
    func pyproject() throws {
        // The shape of ComfyUI 0.3.64's pyproject.toml and of a registry node's (comfy-cli `node init`), abridged.
        let text = #"""
            [project]
            name = "ComfyUI"
            version = "0.3.64"
            license = { file = "LICENSE" }
            requires-python = ">=3.9"
            dependencies = ["torch", 'numpy>=1.25.0', """pillow"""]

            [project.urls]
            repository = "https://github.com/comfyanonymous/ComfyUI"

            [tool.ruff]
            lint.select = [
              "N805", # invalid-first-argument-name-for-method
              "T",    # print-usage
              # a comment line inside the array
              "F",
            ]

            [tool.pylint]
            master.py-version = "3.9"
            messages_control.disable = [
              "missing-module-docstring",
            ]

            [tool.comfy]
            PublisherId = "comfy"
            DisplayName = "Example \u00e9 node\tTab"
            includes = []
            "quoted key" = 'C:\path\literal'
            multi = '''
            line one
            line two'''
            enabled = true
            ratio = 1.5e3
            """#
        let document = try TOMLReader.parse(text)
        #expect(
            document["project"]?["dependencies"]?.array?.compactMap(\.string) == ["torch", "numpy>=1.25.0", "pillow"])
        #expect(document["project"]?["license"]?["file"]?.string == "LICENSE")
        #expect(document["project"]?["urls"]?["repository"]?.string == "https://github.com/comfyanonymous/ComfyUI")
        #expect(document["tool"]?["ruff"]?["lint"]?["select"]?.array?.compactMap(\.string) == ["N805", "T", "F"])
        #expect(document["tool"]?["pylint"]?["master"]?["py-version"]?.string == "3.9")
        let comfy = try #require(document["tool"]?["comfy"])
        #expect(comfy["DisplayName"]?.string == "Example é node\tTab")
        #expect(comfy["quoted key"]?.string == #"C:\path\literal"#)
        #expect(comfy["multi"]?.string == "line one\nline two")
        #expect(comfy["enabled"] == .scalar("true"))
        #expect(comfy["ratio"] == .scalar("1.5e3"))
        #expect(comfy["includes"] == .array([]))
    }

    @Test("hostile TOML is refused naming the line: nesting past the bound, oversize, duplicates, key conflicts")
    func hostileTOML() throws {
        let deep = "a = " + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        let nested = try #require(throws: TOMLParseError.self) { try TOMLReader.parse(deep) }
        #expect(nested.message.contains("nesting deeper than 64"), "\(nested)")
        let inline = "a = " + String(repeating: "{ b = ", count: 100) + "1" + String(repeating: " }", count: 100)
        #expect(throws: TOMLParseError.self) { try TOMLReader.parse(inline) }
        let dotted = (0..<200).map { "k\($0)" }.joined(separator: ".") + " = 1"
        #expect(throws: TOMLParseError.self) { try TOMLReader.parse(dotted) }
        #expect(throws: TOMLParseError.self) { try TOMLReader.parse("a = 1", maxBytes: 4) }
        let duplicate = try #require(throws: TOMLParseError.self) { try TOMLReader.parse("a = 1\nb = 2\na = 3\n") }
        #expect(duplicate.line == 3 && duplicate.message.contains("duplicate key a"), "\(duplicate)")
        #expect(throws: TOMLParseError.self) { try TOMLReader.parse("a = 1\n[a]\nb = 2\n") }
        #expect(throws: TOMLParseError.self) { try TOMLReader.parse("a = \"unterminated\n") }
        #expect(throws: TOMLParseError.self) { try TOMLReader.parse("a = \n") }
        // Within the bounds, nesting is fine.
        let ok = "a = " + String(repeating: "[", count: 60) + "1" + String(repeating: "]", count: 60)
        #expect(try TOMLReader.parse(ok)["a"] != nil)
    }

    @Test("extra_model_paths.yaml as ComfyUI's example writes it: sections, | blocks, commented sections, order kept")
    func comfyUIExample() throws {
        // The shape of ComfyUI's extra_model_paths.yaml.example (v0.3.64), abridged.
        let text = """
            #Rename this to extra_model_paths.yaml and ComfyUI will load it

            #config for a1111 ui
            a111:
                base_path: path/to/stable-diffusion-webui/

                checkpoints: models/Stable-diffusion
                vae: models/VAE
                loras: |
                     models/Lora
                     models/LyCORIS
                upscale_models: |
                              models/ESRGAN
                              models/SwinIR
                embeddings: embeddings

            #comfyui:
            #     base_path: path/to/comfyui/
            #     checkpoints: models/checkpoints/

            central:
                base_path: /srv/models
                is_default: true
                checkpoints: checkpoints/
                clip: /opt/clip
            nobase:
                unet: relative/unet
            empty:
            """
        let comfy = URL(fileURLWithPath: "/opt/comfy/ComfyUI")
        let folders = try ExtraModelPaths.folders(text, relativeTo: comfy).map { "\($0.0) \($0.1.path)" }
        let a111 = "/opt/comfy/ComfyUI/path/to/stable-diffusion-webui"
        #expect(
            folders == [
                "checkpoints \(a111)/models/Stable-diffusion", "vae \(a111)/models/VAE",
                "loras \(a111)/models/Lora", "loras \(a111)/models/LyCORIS",
                "upscale_models \(a111)/models/ESRGAN", "upscale_models \(a111)/models/SwinIR",
                "embeddings \(a111)/embeddings",
                "checkpoints /srv/models/checkpoints", "clip /opt/clip",
                "unet /opt/comfy/ComfyUI/relative/unet",
            ])
        #expect(try ExtraModelPaths.folders("# only comments\n\n", relativeTo: comfy).isEmpty)
    }

    @Test("the file a version gets (ExtraModelPaths.render, quoted paths) reads back to its models folders")
    func renderedRoundTrip() throws {
        let models = URL(fileURLWithPath: "/v/it's here/models")
        let lock = Lock(
            tag: "t", createdBy: "test",
            comfyui: ComfyUIPin(url: "https://x.invalid/c", commit: String(repeating: "a", count: 40)))
        let text = ExtraModelPaths.render(lock: lock, modelsRoot: models)
        let folders = try ExtraModelPaths.folders(text, relativeTo: URL(fileURLWithPath: "/v/ComfyUI"))
        #expect(folders.count >= 11)
        #expect(folders.allSatisfy { $0.1.path == models.path + "/" + $0.0 }, "\(folders)")
    }

    @Test("hostile extra_model_paths.yaml: an alias bomb and broken YAML are refused naming the file")
    func hostileYAML() throws {
        let bomb = "a: &a [x, x, x]\nb: &b [*a, *a, *a]\nc: [*b, *b, *b]\n"
        let error = try #require(throws: LockError.self) {
            try ExtraModelPaths.folders(bomb, relativeTo: URL(fileURLWithPath: "/c"), name: "/c/extra_model_paths.yaml")
        }
        #expect("\(error)".contains("/c/extra_model_paths.yaml") && "\(error)".contains("anchors"), "\(error)")
        #expect(throws: LockError.self) {
            try ExtraModelPaths.folders("a:\n  b: [unclosed\n", relativeTo: URL(fileURLWithPath: "/c"))
        }
        #expect(throws: LockError.self) {
            try ExtraModelPaths.folders("a:\n  b: x\n  b: y\n", relativeTo: URL(fileURLWithPath: "/c"))
        }
    }
}
