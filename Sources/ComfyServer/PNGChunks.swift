internal import ComfyCrypto
internal import Foundation

/// PNG chunk reading for telling pixel changes from metadata changes.
///
/// ComfyUI's SaveImage embeds the prompt (and the UI workflow) as `tEXt` chunks, so two runs with the same pixels
/// but, say, another seed text in a widget give different file hashes. `imageDataSHA256` hashes only the chunks that
/// define the image (IHDR, PLTE, IDAT, tRNS, gAMA, …: every chunk's type and data in file order) and skips the
/// text and time chunks (`tEXt`, `iTXt`, `zTXt`, `tIME`).
public enum PNGChunks {
    /// The chunk types left out of `imageDataSHA256`.
    public static let metadataChunkTypes: Set<String> = ["tEXt", "iTXt", "zTXt", "tIME"]
    /// The eight-byte PNG signature.
    public static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// One chunk: its type and where its data lies in the file.
    public struct Chunk: Sendable, Hashable {
        /// The four-letter type, e.g. `IDAT`.
        public let type: String
        /// Offset of the data in the file.
        public let dataOffset: Int
        /// Length of the data.
        public let length: Int
    }

    /// True when `bytes` start with the PNG signature.
    public static func isPNG(_ bytes: [UInt8]) -> Bool { bytes.count >= 8 && Array(bytes[0..<8]) == signature }

    /// The chunks of a PNG, or `nil` when `bytes` is not a well-formed PNG (bad signature, a chunk running past the
    /// end, no IEND).
    public static func chunks(of bytes: [UInt8]) -> [Chunk]? {
        guard isPNG(bytes) else { return nil }
        var chunks: [Chunk] = []
        var offset = 8
        while offset + 12 <= bytes.count {
            let length =
                Int(bytes[offset]) << 24 | Int(bytes[offset + 1]) << 16 | Int(bytes[offset + 2]) << 8
                | Int(bytes[offset + 3])
            let typeBytes = bytes[(offset + 4)..<(offset + 8)]
            guard typeBytes.allSatisfy({ (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) }) else {
                return nil
            }
            let type = String(decoding: typeBytes, as: UTF8.self)
            guard length <= bytes.count - offset - 12 else { return nil }
            chunks.append(Chunk(type: type, dataOffset: offset + 8, length: length))
            offset += 12 + length
            if type == "IEND" { return chunks }
        }
        return nil
    }

    /// The text metadata of a PNG (`tEXt` keyword → text, Latin-1), e.g. `prompt` and `workflow` of ComfyUI.
    public static func textMetadata(of bytes: [UInt8]) -> [String: String] {
        var result: [String: String] = [:]
        for chunk in chunks(of: bytes) ?? [] where chunk.type == "tEXt" {
            let data = bytes[chunk.dataOffset..<(chunk.dataOffset + chunk.length)]
            guard let zero = data.firstIndex(of: 0) else { continue }
            let key = String(decoding: data[data.startIndex..<zero], as: UTF8.self)
            let value = String(data[(zero + 1)...].map { Character(Unicode.Scalar($0)) })
            result[key] = value
        }
        return result
    }

    /// SHA-256 (lower-case hex) over the type and data of every chunk except `metadataChunkTypes`, or `nil` when
    /// `bytes` is not a PNG.
    public static func imageDataSHA256(of bytes: [UInt8]) -> String? {
        guard let chunks = chunks(of: bytes) else { return nil }
        var hasher = SHA256()
        for chunk in chunks where !metadataChunkTypes.contains(chunk.type) {
            hasher.update(Array(chunk.type.utf8))
            bytes.withUnsafeBytes { raw in
                hasher.update(
                    UnsafeRawBufferPointer(rebasing: raw[chunk.dataOffset..<(chunk.dataOffset + chunk.length)]))
            }
        }
        return hasher.finish().hex
    }

    /// `imageDataSHA256` of the file at `path` (read whole: PNG outputs are small), or `nil` when it is not a PNG
    /// or cannot be read. Files over `maxFileSize` are not read.
    public static func imageDataSHA256(ofFile path: String, maxFileSize: Int = 512 << 20) -> String? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
            let size = attributes[.size] as? NSNumber, size.intValue <= maxFileSize,
            let data = FileManager.default.contents(atPath: path)
        else { return nil }
        return imageDataSHA256(of: [UInt8](data))
    }
}
