import ComfyCrypto
import Foundation
import TestSupport
import Testing

@Suite("SHA-256 over OpenSSL")
struct SHA256Tests {
    @Test(
        "FIPS 180-2 vectors",
        arguments: [
            ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            (
                "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
            ),
        ])
    func vectors(input: String, expected: String) {
        #expect(SHA256.hash(Array(input.utf8)).hex == expected)
    }

    @Test("a file streamed in small chunks hashes like the whole buffer")
    func fileMatchesBuffer() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        var bytes = [UInt8](repeating: 0, count: 1_000_003)
        for i in bytes.indices { bytes[i] = UInt8(truncatingIfNeeded: i &* 31 &+ 7) }
        let url = dir.appending("blob")
        try Data(bytes).write(to: url)
        let (digest, size) = try SHA256.hashFile(atPath: url.path, chunkSize: 4096)
        #expect(size == Int64(bytes.count))
        #expect(digest == SHA256.hash(bytes))
        #expect(SHA256Digest(hex: digest.hex) == digest)
    }

    @Test("mapped hashing across window boundaries and read hashing of sparse files agree with the buffer hash")
    func mappedAndSparse() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        var block = [UInt8](repeating: 0, count: 1 << 20)
        for i in block.indices { block[i] = UInt8(truncatingIfNeeded: i &* 131 &+ i >> 9) }
        var whole = [UInt8]()
        whole.reserveCapacity(33 << 20 + 5)
        for _ in 0..<33 { whole.append(contentsOf: block) }
        whole.append(contentsOf: [1, 2, 3, 4, 5])
        let big = dir.appending("big")
        try Data(whole).write(to: big)
        let (digest, size) = try SHA256.hashFile(atPath: big.path)
        #expect(size == Int64(whole.count))
        #expect(digest == SHA256.hash(whole))

        let sparse = dir.appending("sparse")
        let handle = try FileHandle(
            forWritingTo: {
                FileManager.default.createFile(atPath: sparse.path, contents: nil); return sparse
            }())
        try handle.seek(toOffset: 3 << 20)
        try handle.write(contentsOf: Data("tail".utf8))
        try handle.close()
        var expected = [UInt8](repeating: 0, count: 3 << 20)
        expected.append(contentsOf: Array("tail".utf8))
        #expect(try SHA256.hashFile(atPath: sparse.path).digest == SHA256.hash(expected))
        #expect(throws: FileHashError.self) { try SHA256.hashFile(atPath: dir.appending("none").path) }
    }
}
