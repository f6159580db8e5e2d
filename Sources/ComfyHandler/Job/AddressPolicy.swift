import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The rule for `inputs[].url`: only http/https to public addresses, unless the operator allows private ones.
///
/// Checked twice: on the URL's literal host when the job is validated (literal IPs, `localhost`, metadata host
/// names, numeric host forms libcurl would accept such as `2130706433` or `0x7f.1`), and on every address the host
/// name resolves to just before the download (`resolvedAddressesArePublic`).
enum AddressPolicy {
    /// Why `url` is refused, or `nil` when it is acceptable.
    static func refusal(for url: URL, allowPrivate: Bool) -> String? {
        guard let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https" else {
            return "only http and https URLs are accepted"
        }
        guard let rawHost = url.host, !rawHost.isEmpty else { return "the URL has no host" }
        if url.user != nil || url.password != nil { return "credentials in URLs are not accepted" }
        if allowPrivate { return nil }
        let host = rawHost.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]."))
        if host == "localhost" || host.hasSuffix(".localhost") || host.hasSuffix(".local")
            || host.hasSuffix(".internal") || host == "metadata" || host.hasSuffix(".arpa")
        {
            return "host \(Escape.quoted(host)) is not a public address (private URLs are not allowed on this worker)"
        }
        if let bytes = ipv4(host) {
            return isPublicIPv4(bytes)
                ? nil : "address \(host) is not public (private URLs are not allowed on this worker)"
        }
        if let bytes = ipv6(host) {
            return isPublicIPv6(bytes)
                ? nil : "address \(host) is not public (private URLs are not allowed on this worker)"
        }
        // Numeric forms other than a strict dotted quad (decimal, octal, hex, short forms): refuse rather than guess
        // what the resolver makes of them.
        if host.allSatisfy({ $0.isHexDigit || $0 == "." || $0 == "x" }) && host.first?.isNumber == true {
            return "numeric host \(Escape.quoted(host)) is not a dotted-quad address"
        }
        return nil
    }

    /// Whether every address `host` resolves to is public (`false` also when it does not resolve).
    static func resolvedAddressesArePublic(host: String) -> Bool {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result else { return false }
        defer { freeaddrinfo(first) }
        var node: UnsafeMutablePointer<addrinfo>? = first
        var sawAny = false
        while let current = node {
            defer { node = current.pointee.ai_next }
            guard let address = current.pointee.ai_addr else { continue }
            if current.pointee.ai_family == AF_INET {
                let bytes = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { pointer in
                    withUnsafeBytes(of: pointer.pointee.sin_addr) { Array($0) }
                }
                if !isPublicIPv4(bytes) { return false }
                sawAny = true
            } else if current.pointee.ai_family == AF_INET6 {
                let bytes = address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { pointer in
                    withUnsafeBytes(of: pointer.pointee.sin6_addr) { Array($0) }
                }
                if !isPublicIPv6(bytes) { return false }
                sawAny = true
            }
        }
        return sawAny
    }

    /// One resolved address of a host: numeric text (for `HTTPRequest.connectAddress`) and whether it is public.
    struct ResolvedAddress: Sendable, Hashable {
        var address: String
        var isPublic: Bool
    }

    /// Every address `host` resolves to (empty when it does not resolve); a literal address resolves to itself.
    static func resolve(host: String) -> [ResolvedAddress] {
        let bare = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(bare, nil, &hints, &result) == 0, let first = result else { return [] }
        defer { freeaddrinfo(first) }
        var found: [ResolvedAddress] = []
        var node: UnsafeMutablePointer<addrinfo>? = first
        while let current = node {
            defer { node = current.pointee.ai_next }
            guard let address = current.pointee.ai_addr else { continue }
            var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
            if current.pointee.ai_family == AF_INET {
                var raw = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
                let bytes = withUnsafeBytes(of: raw) { Array($0) }
                guard inet_ntop(AF_INET, &raw, &text, socklen_t(text.count)) != nil else { continue }
                found.append(ResolvedAddress(address: String(cString: text), isPublic: isPublicIPv4(bytes)))
            } else if current.pointee.ai_family == AF_INET6 {
                var raw = address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
                let bytes = withUnsafeBytes(of: raw) { Array($0) }
                guard inet_ntop(AF_INET6, &raw, &text, socklen_t(text.count)) != nil else { continue }
                found.append(ResolvedAddress(address: String(cString: text), isPublic: isPublicIPv6(bytes)))
            }
        }
        var seen: Set<String> = []
        return found.filter { seen.insert($0.address).inserted }
    }

    static func ipv4(_ text: String) -> [UInt8]? {
        var address = in_addr()
        guard inet_pton(AF_INET, text, &address) == 1 else { return nil }
        return withUnsafeBytes(of: address) { Array($0) }
    }

    static func ipv6(_ text: String) -> [UInt8]? {
        var address = in6_addr()
        guard inet_pton(AF_INET6, text, &address) == 1 else { return nil }
        return withUnsafeBytes(of: address) { Array($0) }
    }

    /// Public = not unspecified, loopback, private (RFC 1918), CGNAT, link-local, benchmarking, documentation,
    /// multicast, reserved or broadcast.
    static func isPublicIPv4(_ b: [UInt8]) -> Bool {
        guard b.count == 4 else { return false }
        switch (b[0], b[1]) {
        case (0, _), (10, _), (127, _), (169, 254), (192, 168): return false
        case (172, 16...31), (100, 64...127), (198, 18...19): return false
        case (192, 0) where b[2] == 0 || b[2] == 2: return false
        case (198, 51) where b[2] == 100: return false
        case (203, 0) where b[2] == 113: return false
        case (224...255, _): return false
        default: return true
        }
    }

    /// Public IPv6 = global unicast outside the special ranges; IPv4-mapped/compatible/NAT64 addresses are judged
    /// by their IPv4 part.
    static func isPublicIPv6(_ b: [UInt8]) -> Bool {
        guard b.count == 16 else { return false }
        if b[0..<10].allSatisfy({ $0 == 0 }) && ((b[10] == 0xFF && b[11] == 0xFF) || (b[10] == 0 && b[11] == 0)) {
            if b[10] == 0 && b[12..<16].allSatisfy({ $0 == 0 }) { return false }  // :: and ::1 (and ::0.0.0.x)
            if b[10] == 0 && b[12] == 0 && b[13] == 0 && b[14] == 0 { return false }
            return isPublicIPv4(Array(b[12..<16]))
        }
        if b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xFF && b[3] == 0x9B { return isPublicIPv4(Array(b[12..<16])) }
        if b[0] == 0xFF { return false }  // multicast
        if b[0] == 0xFE && (b[1] & 0xC0) == 0x80 { return false }  // link-local
        if b[0] == 0xFE && (b[1] & 0xC0) == 0xC0 { return false }  // site-local (deprecated)
        if (b[0] & 0xFE) == 0xFC { return false }  // unique local
        if b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0D && b[3] == 0xB8 { return false }  // documentation
        if b[0] == 0x20 && b[1] == 0x02 { return isPublicIPv4(Array(b[2..<6])) }  // 6to4
        return (b[0] & 0xE0) == 0x20  // 2000::/3 global unicast
    }
}
