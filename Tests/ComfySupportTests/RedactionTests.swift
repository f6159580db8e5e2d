import ComfySupport
import Testing

@Suite("the one redaction")
struct RedactionTests {
    @Test("explicit secrets are masked wherever they appear, longest first; short strings are ignored")
    func explicitSecrets() {
        #expect(Redaction.redact("token hf_abcdef1234 in text", secrets: ["hf_abcdef1234"]) == "token *** in text")
        #expect(Redaction.redact("a abcd-long b", secrets: ["abcd", "abcd-long"]) == "a *** b")
        #expect(Redaction.redact("ab cd", secrets: ["ab"]) == "ab cd")
    }

    @Test("URL user info becomes ***@")
    func userInfo() {
        #expect(Redaction.redact("https://u:p@h/x") == "https://***@h/x")
        #expect(
            Redaction.redact("clone 'https://tok@github.com/a/b.git' failed")
                == "clone 'https://***@github.com/a/b.git' failed")
        #expect(Redaction.redact("git@github.com:a/b.git") == "git@github.com:a/b.git")
        #expect(Redaction.redact("mail me at a@b.c") == "mail me at a@b.c")
    }

    @Test("Authorization-style header values are masked to the end of the line or quote")
    func headers() {
        #expect(Redaction.redact("Authorization: Bearer x") == "Authorization: ***")
        #expect(Redaction.redact("proxy-authorization: Basic dXNlcjpwYXNz\nnext") == "proxy-authorization: ***\nnext")
        #expect(Redaction.redact("-H 'Cookie: session=abc' -v") == "-H 'Cookie: ***' -v")
        #expect(Redaction.redact("X-Api-Key: k123\n") == "X-Api-Key: ***\n")
        #expect(Redaction.redact("Private-Token: glpat-123") == "Private-Token: ***")
    }

    @Test("bearer tokens and JWT-shaped strings are masked anywhere")
    func bearerAndJWT() {
        #expect(Redaction.redact("sent bearer ya29.a0AfH6SMB and more") == "sent Bearer *** and more")
        let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJhQGIuYyJ9.c2lnbmF0dXJlX2J5dGVz"
        #expect(Redaction.redact("assertion \(jwt) rejected") == "assertion *** rejected")
        #expect(!Redaction.redact("{\"x\":\"\(jwt)\"}").contains("eyJpc3Mi"))
    }

    @Test("credential query values are masked; other parameters stay")
    func queryValues() {
        #expect(Redaction.redact("https://h/x?a=1&token=zz&b=2") == "https://h/x?a=1&token=***&b=2")
        #expect(
            Redaction.redactURL("https://s.googleapis.com/b/o?X-Goog-Credential=sa%40p&X-Goog-Signature=ab12&x=1")
                == "https://s.googleapis.com/b/o?X-Goog-Credential=***&X-Goog-Signature=***&x=1")
        #expect(
            Redaction.redactURL("https://h/upload?uploadType=resumable&upload_id=ADPyc")
                == "https://h/upload?uploadType=resumable&upload_id=***")
        #expect(Redaction.redactURL("https://h/x?keyword=cat&monkey=1") == "https://h/x?keyword=cat&monkey=1")
        #expect(
            Redaction.redactURL("https://h/x?api_key=1&apikey=2&hf_token=3&sig=4")
                == "https://h/x?api_key=***&apikey=***&hf_token=***&sig=***")
    }

    @Test("credential fields in JSON and form bodies are masked")
    func fields() {
        #expect(
            Redaction.redact(#"{"access_token": "ya29.xyz", "expires_in": 3599}"#)
                == #"{"access_token": "***", "expires_in": 3599}"#)
        #expect(
            Redaction.redact("grant_type=refresh_token&client_secret=s3cr3t&x=1")
                == "grant_type=refresh_token&client_secret=***&x=1")
        #expect(Redaction.redact(#"{"private_key": "-----BEGIN"}"#) == #"{"private_key": "***"}"#)
    }

    @Test("one mask; plain text and already-redacted text are unchanged")
    func stable() {
        #expect(Redaction.mask == "***")
        #expect(Redaction.redact("plain text, no secrets: a=b & c") == "plain text, no secrets: a=b & c")
        let once = Redaction.redact("https://u:p@h/x?token=1 Authorization: Bearer 2 {\"password\": \"3\"}")
        #expect(Redaction.redact(once) == once)
        for secret in ["u:p", "token=1", "Bearer 2", "\"3\""] { #expect(!once.contains(secret)) }
    }

    @Test("credential names")
    func names() {
        for name in [
            "token", "access_token", "X-Amz-Security-Token", "key", "private_key", "X-Api-Key", "apikey",
            "sig", "Signature", "password", "passwd", "client_secret", "x-goog-credential", "auth", "upload_id",
        ] {
            #expect(Redaction.isCredentialName(name), "\(name)")
        }
        for name in ["keyword", "monkey", "author", "page", "alt", "uploadType", "name"] {
            #expect(!Redaction.isCredentialName(name), "\(name)")
        }
    }
}
