import ComfyLock
import ComfyServer
import Foundation
import Testing

@Suite("Workflow references")
struct WorkflowReferencesTests {
    static func parse(_ text: String) throws -> WorkflowReferences {
        try WorkflowReferences(bytes: Array(text.utf8))
    }

    static let api = #"""
        {"4":{"class_type":"CheckpointLoaderSimple","inputs":{"ckpt_name":"sd\\v1-5.safetensors"}},
         "10":{"class_type":"LoraLoader","inputs":{"lora_name":"detail.safetensors","strength_model":1,
               "model":["4",0],"clip":["4",1]}},
         "11":{"class_type":"CLIPVisionLoader","inputs":{"clip_name":"vit-h.safetensors"}},
         "12":{"class_type":"DualCLIPLoader","inputs":{"clip_name1":"clip_l.safetensors",
               "clip_name2":"t5xxl.safetensors","type":"flux"}},
         "13":{"class_type":"VAELoader","inputs":{"vae_name":"taesd"}},
         "14":{"class_type":"FixtureSampler","inputs":{"model_file":"extra/fixture.pth","mode":"fast"}},
         "15":{"class_type":"UpscaleModelLoader","inputs":{"model_name":"4x.pth"}},
         "2":{"class_type":"SaveImage","inputs":{"images":["10",0],"filename_prefix":"x.safetensors.png"}}}
        """#

    @Test("API format: classes with node ids, loader inputs with their folders, file-like values of other inputs")
    func apiFormat() throws {
        let refs = try Self.parse(Self.api)
        #expect(refs.format == .api)
        #expect(refs.nodes.map(\.nodeID) == ["2", "4", "10", "11", "12", "13", "14", "15"])
        #expect(refs.classTypes.contains("FixtureSampler"))
        let byValue = Dictionary(uniqueKeysWithValues: refs.models.map { ($0.value, $0) })
        #expect(byValue["sd/v1-5.safetensors"]?.folder == "checkpoints")  // backslash normalized
        #expect(byValue["sd/v1-5.safetensors"]?.input == "ckpt_name")
        #expect(byValue["detail.safetensors"]?.folder == "loras")
        #expect(byValue["vit-h.safetensors"]?.folder == "clip_vision")  // class-specific rule
        #expect(byValue["clip_l.safetensors"]?.folder == "text_encoders")
        #expect(byValue["t5xxl.safetensors"]?.folder == "text_encoders")
        #expect(byValue["4x.pth"]?.folder == "upscale_models")
        #expect(byValue["taesd"] == nil)  // a built-in VAE approximation names no file
        let custom = try #require(byValue["extra/fixture.pth"])
        #expect(custom.folder == nil)
        #expect(custom.origin == .fileLikeValue)
        #expect(custom.nodeID == "14")
        #expect(byValue["x.safetensors.png"] == nil)
        #expect(refs.models.count == 7)
    }

    @Test("a {\"prompt\": …} wrapper is read like the bare graph")
    func promptWrapper() throws {
        let refs = try Self.parse(#"{"prompt":\#(Self.api),"client_id":"x"}"#)
        #expect(refs.nodes.count == 8)
    }

    static let ui = #"""
        {"last_node_id":30,"last_link_id":9,"version":0.4,"links":[],
         "nodes":[
          {"id":4,"type":"CheckpointLoaderSimple","mode":0,"widgets_values":["v1-5-pruned-emaonly-fp16.safetensors"],
           "properties":{"cnr_id":"comfy-core","ver":"0.3.64","models":[{"name":"v1-5-pruned-emaonly-fp16.safetensors",
             "url":"https://huggingface.co/Comfy-Org/x/resolve/main/v1-5-pruned-emaonly-fp16.safetensors?download=true",
             "directory":"checkpoints"}]}},
          {"id":7,"type":"UNETLoader","mode":4,"widgets_values":["flux-fill.safetensors","default"]},
          {"id":8,"type":"FixtureLoader","mode":0,"widgets_values":["custom.ckpt",3,"not a model"],
           "properties":{"aux_id":"someone/fixture-nodes","ver":"0123456789abcdef0123456789abcdef01234567"}},
          {"id":9,"type":"VHS_LoadVideo","widgets_values":{"video":"a.mp4","model":"m.safetensors"}},
          {"id":12,"type":"Reroute"},
          {"id":13,"type":"MarkdownNote","widgets_values":["see model.safetensors"]},
          {"id":20,"type":"0f6c1a2e-sub","mode":0}
         ],
         "definitions":{"subgraphs":[{"id":"0f6c1a2e-sub","nodes":[
           {"id":1,"type":"LoraLoaderModelOnly","widgets_values":["sub/lora.safetensors",1]},
           {"id":2,"type":"KSampler","widgets_values":[1,"fixed",20,8,"euler","normal",1]}]}]}}
        """#

    @Test(
        "UI format: positional widgets of core loaders, embedded models metadata, modes, subgraphs, editor-only nodes")
    func uiFormat() throws {
        let refs = try Self.parse(Self.ui)
        #expect(refs.format == .ui)
        #expect(refs.nodes.map(\.nodeID) == ["4", "7", "8", "9", "20:1", "20:2"])
        #expect(!refs.classTypes.contains("Reroute"))
        #expect(!refs.classTypes.contains("MarkdownNote"))
        #expect(refs.nodes[0].registryID == "comfy-core")
        #expect(refs.nodes[2].auxID == "someone/fixture-nodes")
        #expect(refs.nodes[1].active == false)  // bypassed
        let byValue = Dictionary(uniqueKeysWithValues: refs.models.map { ($0.value, $0) })
        #expect(byValue["v1-5-pruned-emaonly-fp16.safetensors"]?.input == "ckpt_name")
        #expect(byValue["v1-5-pruned-emaonly-fp16.safetensors"]?.folder == "checkpoints")
        #expect(byValue["flux-fill.safetensors"]?.folder == "diffusion_models")
        #expect(byValue["flux-fill.safetensors"]?.active == false)
        #expect(byValue["custom.ckpt"]?.folder == nil)
        #expect(byValue["custom.ckpt"]?.widgetIndex == 0)
        #expect(byValue["m.safetensors"]?.input == "model")
        #expect(byValue["sub/lora.safetensors"]?.folder == "loras")
        #expect(byValue["sub/lora.safetensors"]?.nodeID == "20:1")
        #expect(byValue["see model.safetensors"] == nil)  // notes are not nodes
        #expect(refs.embeddedModels.count == 1)
        #expect(refs.embeddedModels.first?.path == "checkpoints/v1-5-pruned-emaonly-fp16.safetensors")
        #expect(refs.embeddedModels.first?.url?.hasPrefix("https://huggingface.co/") == true)
    }

    @Test("matching against a lock: found, missing, aliases, unknown folders, inactive nodes, embedded sources")
    func match() throws {
        let refs = try Self.parse(Self.ui)
        let hash = String(repeating: "a", count: 64)
        let models = [
            ModelEntry(path: "loras/sub/lora.safetensors", size: 1, sha256: hash),
            ModelEntry(path: "checkpoints/custom.ckpt", size: 1, sha256: hash),
            ModelEntry(path: "unet/flux-fill.safetensors", size: 1, sha256: hash),
        ]
        let match = refs.match(models: models)
        #expect(Set(match.found.map(\.model.path)) == ["loras/sub/lora.safetensors", "checkpoints/custom.ckpt"])
        #expect(Set(match.missing.map(\.value)) == ["v1-5-pruned-emaonly-fp16.safetensors", "m.safetensors"])
        #expect(match.missingEmbedded.map(\.name) == ["v1-5-pruned-emaonly-fp16.safetensors"])
        let all = refs.match(models: models, includeInactive: true)
        #expect(all.found.contains { $0.model.path == "unet/flux-fill.safetensors" })  // diffusion_models ↔ unet
        let checkpoint = try #require(refs.models.first { $0.folder == "checkpoints" })
        #expect(refs.embeddedSource(for: checkpoint)?.directory == "checkpoints")
        #expect(refs.embeddedSource(for: try #require(refs.models.first { $0.value == "m.safetensors" })) == nil)
    }

    @Test(
        "bounds and bad documents: not an object, no nodes, a node without class_type, too many nodes, deep subgraphs")
    func bounds() throws {
        for text in ["[1]", "{}", #"{"1":{"inputs":{}}}"#, #"{"nodes":[]}"#] {
            let error = try #require(throws: ComfyUIError.self) { try Self.parse(text) }
            #expect(error.kind == .invalidWorkflow)
        }
        let many =
            "{"
            + (0...WorkflowReferences.maxNodes).map { #""\#($0)":{"class_type":"X"}"# }
            .joined(separator: ",") + "}"
        #expect(throws: ComfyUIError.self) { try Self.parse(many) }
        // A subgraph that contains itself would expand forever: the depth bound stops it.
        let loop =
            #"{"nodes":[{"id":1,"type":"s"}],"definitions":{"subgraphs":[{"id":"s","nodes":[{"id":1,"type":"s"}]}]}}"#
        let error = try #require(throws: ComfyUIError.self) { try Self.parse(loop) }
        #expect(error.message.contains("nest"))
        #expect(throws: ComfyUIError.self) { try WorkflowReferences(bytes: Array(Self.api.utf8), maxBytes: 10) }
        // Hostile values are not taken as model names: absolute, parent-relative, URLs, overlong.
        let long = String(repeating: "a", count: WorkflowReferences.maxValueLength) + ".pt"
        let hostile =
            #"{"1":{"class_type":"X","inputs":{"a":"/etc/x.pt","b":"../x.pt","c":"https://h/x.pt","d":"\#(long)"}}}"#
        #expect(try Self.parse(hostile).models.isEmpty)
    }

    @Test(
        "a real ComfyUI template workflow (UI format) is read when the package is installed",
        .enabled(if: realComfyTemplate != nil))
    func realTemplate() throws {
        let refs = try WorkflowReferences(bytes: Array(try Data(contentsOf: realComfyTemplate!)))
        #expect(refs.format == .ui)
        #expect(refs.models.contains { $0.folder == "checkpoints" })
        #expect(!refs.embeddedModels.isEmpty)
    }
}

/// default.json of the real ComfyUI's workflow-templates package, when it is installed here (local runs only).
let realComfyTemplate: URL? = {
    let root = "/work/realcomfy/ComfyUI/venv/lib"
    guard let pythons = try? FileManager.default.contentsOfDirectory(atPath: root) else { return nil }
    for python in pythons {
        let path = "\(root)/\(python)/site-packages/comfyui_workflow_templates/templates/default.json"
        if FileManager.default.fileExists(atPath: path) { return URL(fileURLWithPath: path) }
    }
    return nil
}()
