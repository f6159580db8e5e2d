import ArgumentParser

/// `comfy-cli models`: hash, verify, fetch and add model files.
struct ModelsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "Hash, verify, fetch and add model files.",
        subcommands: [
            ModelsHashCommand.self,
            ModelsVerifyCommand.self,
            ModelsFetchCommand.self,
            ModelsAddCommand.self,
        ])
}
