import ComfyCLI
import Foundation

let code = await CLI.run(Array(CommandLine.arguments.dropFirst()))
exit(code)
