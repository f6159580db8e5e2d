import ArgumentParser

/// `comfy-cli lock`: create, check, format, diff, import and export lock files.
struct LockCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lock",
        abstract: "Create, check, format, diff, update, import, export, sign and verify lock files.",
        subcommands: [
            LockCreateCommand.self,
            LockCanonicalizeCommand.self,
            LockValidateCommand.self,
            LockFmtCommand.self,
            LockDigestCommand.self,
            LockDiffCommand.self,
            LockImportCommand.self,
            LockExportCommand.self,
            LockSignCommand.self,
            LockVerifyCommand.self,
            LockPinRegistryCommand.self,
            LockUpdateCommand.self,
        ])
}
