import AsyncHTTPClient
import Foundation
import HTTPTypes
import HummingbirdTesting
import MultiStatus
import MultiStatusServer
import NIOCore
import SQLKit
import Testing

/// Real clients judge the WebDAV server: the litmus suite, rclone and cadaver, over a loopback socket.
/// One at a time: each drives a server as hard as it can, and together they starved the timing of other suites.
@Suite(.serialized) struct WebDAVClientTests {
    /// Without accounts on SQLite; and as an account confined to a root of its own, with its password,
    /// on SQLite and PostgreSQL.
    @Test(arguments: [(TestDatabase.sqlite, false), (.sqlite, true), (.postgres, true)])
    func litmusPassesEverySuite(database: TestDatabase, withAccount: Bool) async throws {
        let litmus = try ExternalTool("litmus")
        let account = TestAccount(name: "litmus", password: "li tmus:pw", permission: "write", root: "litmus-root")
        try await withTemporaryDirectory { work in
            let accountFile = work + "/accounts"
            try Data((account.line + "\n").utf8).write(to: URL(fileURLWithPath: accountFile))
            let accounts = withAccount ? try AccountDirectory(accountFile: accountFile, tokenFile: nil, logger: testLogger()) : nil
            try await withDatabaseServer(database, { $0.accounts = accounts }) { client, _, configuration in
                let credentials = withAccount ? [account.name, account.password] : []
                let (_, output) = try await litmus.run(["http://127.0.0.1:\(client.port!)/dav/"] + credentials, in: work)
                // "<- summary for `basic': of 16 tests run: 16 passed, 0 failed. 100.0%"
                var summaries: [String: (run: Int, passed: Int)] = [:]
                for line in output.split(separator: "\n") where line.hasPrefix("<- summary for `") {
                    let suite = String(line.dropFirst("<- summary for `".count).prefix { $0 != "'" })
                    let numbers = line.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
                    summaries[suite] = (numbers[0], numbers[1])
                }
                let expected = ["basic": 16, "copymove": 13, "props": 30, "locks": 41, "http": 4]
                for (suite, count) in expected {
                    let summary = summaries[suite]
                    #expect(summary?.run == count && summary?.passed == count, "litmus \(suite): \(String(describing: summary))\n\(output)")
                }
                #expect(!output.contains("WARNING"), "\(output)")
                if withAccount {
                    // Everything litmus made is inside the account's root.
                    let files = configuration.dataDirectory + "/files"
                    #expect(try FileManager.default.contentsOfDirectory(atPath: files) == ["litmus-root"])
                }
            }
        }
    }

    /// webdav4 (the fsspec WebDAV client) sends PROPFIND without Depth to a file before it reads it,
    /// and to a folder for `isdir`: that one needs `--allow-depth-infinity`.
    @Test(arguments: [false, true]) func webdav4ReadsAndListsFiles(allowingInfinity: Bool) async throws {
        let python = try ExternalTool.python()
        try await withAccountsServer([.writer], { $0.limits.depthInfinityMembers = allowingInfinity ? 1_000 : nil }) { client, _, _, _ in
            try await withTemporaryDirectory { work in
                let headers = TestAccount.writer.headers
                #expect(try await dav(client, .mkcol, "/dav/docs", headers: headers).status == .created)
                #expect(
                    try await dav(client, .put, "/dav/docs/%C3%BCn%C3%AF%20code.txt", headers: headers, body: "read by webdav4\n").status == .created)
                let script = """
                    import io, sys
                    from webdav4.client import Client, HTTPError
                    client = Client(sys.argv[1], auth=(sys.argv[2], sys.argv[3]))
                    print("info", client.info("docs/ünï code.txt")["content_length"])
                    with client.open("docs/ünï code.txt", mode="rb") as f:
                        print("read", f.read().decode().strip())
                    print("ls", sorted(entry["name"] for entry in client.ls("docs", detail=True)))
                    client.upload_fileobj(io.BytesIO(b"from webdav4"), "docs/up.txt")
                    print("isfile", client.isfile("docs/up.txt"))
                    try:
                        print("isdir", client.isdir("docs"))
                    except HTTPError as error:
                        print("isdir refused", error.response.status_code)
                    """
                let (status, output) = try await python.run(
                    ["-c", script, "http://127.0.0.1:\(client.port!)/dav/", TestAccount.writer.name, TestAccount.writer.password], in: work)
                #expect(status == 0, "\(output)")
                #expect(output.contains("info 16"), "\(output)")
                #expect(output.contains("read read by webdav4"), "\(output)")
                #expect(output.contains("ls ['docs/ünï code.txt']"), "\(output)")
                #expect(output.contains("isfile True"), "\(output)")
                #expect(output.contains(allowingInfinity ? "isdir True" : "isdir refused 403"), "\(output)")
                let uploaded = try await dav(client, .get, "/dav/docs/up.txt", headers: headers)
                #expect(String(buffer: uploaded.body) == "from webdav4")
            }
        }
    }

    @Test func rcloneCopiesATreeThereAndBackKeepingTimes() async throws {
        let rclone = try ExternalTool("rclone")
        try await withAccountsServer([.writer]) { client, _, _, _ in
            try await withTemporaryDirectory { work in
                // 200 files in nested folders; names with spaces, '#', '%' and non-ASCII.
                let folders = ["plain", "with space", "hash#tag/deeper", "per%cent", "ünï cødé/日本"]
                var originals: [String: (Data, Date)] = [:]
                for index in 0..<200 {
                    let relative = "\(folders[index % folders.count])/file \(index) #\(index % 7) %\(index % 3) é.txt"
                    let url = URL(fileURLWithPath: work + "/src/" + relative)
                    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                    let content = Data("content of \(relative)\n".utf8 + Array(repeating: UInt8(index % 251), count: index * 37))
                    try content.write(to: url)
                    let modified = Date(timeIntervalSince1970: 1_600_000_000 + Double(index) * 3600)
                    try FileManager.default.setAttributes([.modificationDate: modified], ofItemAtPath: url.path)
                    originals[relative] = (content, modified)
                }
                // rclone takes the password only in its own obscured form.
                let obscured = try await rclone.run(["obscure", TestAccount.writer.password], in: work)
                let remote = [
                    "RCLONE_CONFIG_DAV_TYPE": "webdav",
                    "RCLONE_CONFIG_DAV_URL": "http://127.0.0.1:\(client.port!)/dav/",
                    "RCLONE_CONFIG_DAV_VENDOR": "owncloud",
                    "RCLONE_CONFIG_DAV_USER": TestAccount.writer.name,
                    "RCLONE_CONFIG_DAV_PASS": obscured.output.trimmingCharacters(in: .whitespacesAndNewlines),
                ]
                let up = try await rclone.run(["copy", "src", "dav:tree"], environment: remote, in: work)
                #expect(up.status == 0, "\(up.output)")
                let down = try await rclone.run(["copy", "dav:tree", "back"], environment: remote, in: work)
                #expect(down.status == 0, "\(down.output)")
                let check = try await rclone.run(["check", "--download", "src", "dav:tree"], environment: remote, in: work)
                #expect(check.status == 0 && check.output.contains("0 differences found"), "\(check.output)")

                for (relative, (content, modified)) in originals {
                    let copy = work + "/back/" + relative
                    #expect(FileManager.default.contents(atPath: copy) == content, "\(relative)")
                    let copied = try FileManager.default.attributesOfItem(atPath: copy)[.modificationDate] as? Date
                    #expect(
                        copied.map { abs($0.timeIntervalSince(modified)) < 1 } == true, "\(relative): \(String(describing: copied)) vs \(modified)")
                }
            }
        }
    }

    @Test func cadaverScriptSucceeds() async throws {
        let cadaver = try ExternalTool("cadaver")
        let account = TestAccount(name: "cad", password: "cadaver-pw", permission: "write")
        try await withAccountsServer([account]) { client, configuration, _, _ in
            try await withTemporaryDirectory { work in
                try Data("hello from cadaver\n".utf8).write(to: URL(fileURLWithPath: work + "/local.txt"))
                // cadaver reads its login from ~/.netrc, which must be private.
                let netrc = work + "/.netrc"
                try Data("machine 127.0.0.1 login \(account.name) password \(account.password)\n".utf8)
                    .write(to: URL(fileURLWithPath: netrc))
                try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: netrc)
                let script =
                    [
                        "mkcol box", "cd box", "put local.txt", "ls", "get local.txt fetched.txt", "move local.txt moved.txt",
                        "propset moved.txt color red", "propget moved.txt color", "lock moved.txt", "unlock moved.txt", "ls", "quit",
                    ].joined(separator: "\n") + "\n"
                let (_, output) = try await cadaver.run(
                    ["http://127.0.0.1:\(client.port!)/dav/"], input: script, environment: ["HOME": work], in: work)
                for step in [
                    "Creating `box': succeeded", "to `/dav/box/local.txt': [.. succeeded", "Listing collection `/dav/box/': succeeded",
                    "to fetched.txt: [.. succeeded", "to `/dav/box/moved.txt':  succeeded", "Setting property on `moved.txt': succeeded",
                    "Value of color is: red", "Locking `moved.txt': succeeded", "Unlocking `moved.txt': succeeded",
                ] {
                    #expect(output.contains(step), "missing \"\(step)\" in:\n\(output)")
                }
                #expect(FileManager.default.contents(atPath: work + "/fetched.txt") == Data("hello from cadaver\n".utf8))
                #expect(
                    FileManager.default.contents(atPath: configuration.dataDirectory + "/files/box/moved.txt") == Data("hello from cadaver\n".utf8))
                #expect(!FileManager.default.fileExists(atPath: configuration.dataDirectory + "/files/box/local.txt"))
            }
        }
    }
}

@Suite struct WebDAVTests {
    @Test func propfindDepthOneListsEveryMemberOnceWithDecodableHrefs() async throws {
        try await withServer { client, _ in
            #expect(try await dav(client, .mkcol, "/dav/box%20one").status == .created)
            #expect(try await dav(client, .mkcol, "/dav/box%20one/sub").status == .created)
            let names = (0..<40).map { "n \($0) #?%ü\($0 % 3 == 0 ? ".txt" : "")" }
            for name in names {
                let response = try await dav(client, .put, "/dav/box%20one/" + PercentEncoding.encodePath(name), body: "x\(name)")
                #expect(response.status == .created)
            }
            let body =
                #"<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:Z="urn:example:z"><D:prop><D:getcontentlength/><D:resourcetype/><Z:nothing/></D:prop></D:propfind>"#
            let response = try await dav(client, .propfind, "/dav/box%20one/", headers: [.depth: "1"], body: body)
            #expect(response.status == .multiStatus)
            let entries = try propfindEntries(response.body)
            let hrefs = entries.map(\.href)
            #expect(Set(hrefs).count == hrefs.count, "an entry is listed twice")
            #expect(hrefs.first == "/dav/box%20one/")
            #expect(hrefs.allSatisfy { $0.hasPrefix("/dav/box%20one/") })
            let members = Set(hrefs.dropFirst().compactMap { PercentEncoding.decode(String($0.dropFirst("/dav/box%20one/".count))) })
            #expect(members == Set(names + ["sub/"]))
            for entry in entries {
                // An unknown property of a declared namespace is a 404 propstat, the others 200.
                #expect(entry.properties["{urn:example:z}nothing"]?.status == 404)
                #expect(entry.properties["{DAV:}resourcetype"]?.status == 200)
                let isCollection = entry.href.hasSuffix("/")
                #expect(entry.properties["{DAV:}getcontentlength"]?.status == (isCollection ? 404 : 200))
            }
            let file = try #require(entries.first { $0.href.hasSuffix("/n%201%20%23%3F%25%C3%BC") })
            #expect(file.properties["{DAV:}getcontentlength"]?.text == String("xn 1 #?%ü".utf8.count))
        }
    }

    /// A listing writes most members straight into bytes, and members with dead properties through the
    /// core encoder, as a Depth 0 PROPFIND does: every member's response must be the same both ways.
    @Test func aListedMemberIsAnsweredExactlyAsItsOwnPropfind() async throws {
        try await withServer({ $0.limits.storeQuotaBytes = 1 << 20 }) { client, _ in
            #expect(try await dav(client, .mkcol, "/dav/mix").status == .created)
            #expect(try await dav(client, .mkcol, "/dav/mix/sub%20folder").status == .created)
            let names = ["plain.txt", "a & b.html", "q'uote\"<x>.TXT", "ünï.json", ".txt", "no extension", "b.txt"]
            for name in names {
                #expect(try await dav(client, .put, "/dav/mix/" + PercentEncoding.encodePath(name), body: name).status == .created)
            }
            let withDead =
                #"<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><Z:color xmlns:Z="urn:z">red &amp; blue</Z:color></D:prop></D:set></D:propertyupdate>"#
            #expect(try await dav(client, .proppatch, "/dav/mix/b.txt", body: withDead).status == .multiStatus)
            let bodies = [
                #"<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>"#,
                #"<D:propfind xmlns:D="DAV:" xmlns:Z="urn:z"><D:prop><D:getcontenttype/><Z:color/><D:displayname/><D:getcontentlength/>"#
                    + #"<D:quota-used-bytes/><D:getetag/><D:lockdiscovery/><Z:nothing/><D:resourcetype/><D:getlastmodified/>"#
                    + #"<D:creationdate/><D:supportedlock/><D:quota-available-bytes/></D:prop></D:propfind>"#,
                #"<D:propfind xmlns:D="DAV:"><D:prop><D:nothing/></D:prop></D:propfind>"#,
            ]
            /// Each `<D:response>` element of a body, by its href.
            func responses(_ body: ByteBuffer) -> [String: String] {
                let text = String(buffer: body)
                var found: [String: String] = [:]
                for part in text.components(separatedBy: "<D:response>").dropFirst() {
                    let element = "<D:response>" + part.components(separatedBy: "</D:response>")[0] + "</D:response>"
                    let href = element.components(separatedBy: "<D:href>")[1].components(separatedBy: "</D:href>")[0]
                    found[href] = element
                }
                return found
            }
            for body in bodies {
                let listing = try await dav(client, .propfind, "/dav/mix/", headers: [.depth: "1"], body: body)
                #expect(listing.status == .multiStatus)
                let listed = responses(listing.body)
                #expect(listed.count == names.count + 2)
                for (href, element) in listed where href != "/dav/mix/" {
                    // The href in the document is XML-escaped; the request URI is not.
                    let uri = href.replacingOccurrences(of: "&amp;", with: "&").replacingOccurrences(of: "&apos;", with: "'")
                    let own = try await dav(client, .propfind, uri, headers: [.depth: "0"], body: body)
                    #expect(own.status == .multiStatus, "\(uri)")
                    #expect(responses(own.body)[href] == element, "\(href) with \(body)")
                }
            }
        }
    }

    /// A file has no members: no Depth, or Depth infinity, on a file is answered as Depth 0 (webdav4 sends no Depth).
    @Test func aFileIsAnsweredAloneWhateverTheDepth() async throws {
        try await withServer { client, _ in
            #expect(try await dav(client, .mkcol, "/dav/docs").status == .created)
            #expect(try await dav(client, .put, "/dav/docs/a.txt", body: "hello").status == .created)
            let zero = try await dav(client, .propfind, "/dav/docs/a.txt", headers: [.depth: "0"])
            for depth: HTTPFields in [[:], [.depth: "infinity"], [.depth: "1"]] {
                let answer = try await dav(client, .propfind, "/dav/docs/a.txt", headers: depth)
                #expect(answer.status == .multiStatus, "\(depth)")
                let entries = try propfindEntries(answer.body)
                #expect(entries.map(\.href) == ["/dav/docs/a.txt"])
                #expect(entries.first?.properties["{DAV:}getcontentlength"]?.text == "5")
                #expect(try propfindEntries(zero.body).map(\.href) == entries.map(\.href))
            }
        }
    }

    /// With `--allow-depth-infinity` a whole tree is listed, each member once, and past the cap the
    /// listing ends with a 507 response and lists no more than the cap.
    @Test func depthInfinityListsTheTreeUpToItsCap() async throws {
        let folders = ["t", "t/a", "t/a/deep", "t/b"]
        let files = ["t/1.txt", "t/a/2.txt", "t/a/deep/3.txt", "t/b/4.txt", "t/b/5.txt"]
        try await withServer({ $0.limits.depthInfinityMembers = 8 }) { client, _ in
            for folder in folders { #expect(try await dav(client, .mkcol, "/dav/" + folder).status == .created) }
            for file in files { #expect(try await dav(client, .put, "/dav/" + file, body: file).status == .created) }
            let whole = try await dav(client, .propfind, "/dav/t/")
            #expect(whole.status == .multiStatus)
            let hrefs = try propfindEntries(whole.body).map(\.href)
            let expected = ["/dav/t/"] + (folders.dropFirst().map { "/dav/\($0)/" } + files.map { "/dav/" + $0 })
            #expect(hrefs.sorted() == expected.sorted())
            #expect(hrefs.first == "/dav/t/")
            // Depth-first, in folder order: everything below a folder comes together.
            let belowA = hrefs.indices.filter { hrefs[$0].hasPrefix("/dav/t/a/") && hrefs[$0] != "/dav/t/a/" }
            #expect(belowA.count == 3 && belowA.last! - belowA.first! == 2, "\(hrefs)")

            // t holds 3 members, a another 2, deep 1, and b now 8: the cap of 8 is crossed in b, whatever the order.
            for _ in 0..<6 { _ = try await dav(client, .put, "/dav/t/b/more-\(UUID().uuidString).txt", body: "x") }
            let capped = try await dav(client, .propfind, "/dav/t/", headers: [.depth: "infinity"])
            #expect(capped.status == .multiStatus)
            let responses = try MultiStatusReader.readDAV(capped.body.readableBytesView)
            let stop = try #require(responses.last)
            #expect(stop.href == "/dav/t/")
            #expect(stop.status == .insufficientStorage)
            #expect(stop.error.contains("number-of-matches-within-limits"))
            let members = responses.dropFirst().dropLast()
            #expect(members.count <= 8)
            #expect(Set(members.map(\.href)).isSuperset(of: ["/dav/t/1.txt", "/dav/t/a/", "/dav/t/b/"]))
            #expect(!members.contains { $0.href.hasPrefix("/dav/t/b/") && $0.href != "/dav/t/b/" })
            // The cap is listed with the other limits.
            let limits = try await client.execute(uri: "/limits", method: .get) { try JSONValue.parse($0.body.readableBytesView) }
            #expect(limits.objectMembers["depthInfinityMembers"] == 8)
        }
    }

    @Test func propfindStatusIsDecidedBeforeTheBody() async throws {
        try await withServer { client, _ in
            let missing = try await dav(client, .propfind, "/dav/nothing/here", headers: [.depth: "1"])
            #expect(missing.status == .notFound)
            #expect(missing.headers[.contentType] == "application/problem+json")
            for depth: HTTPFields in [[.depth: "infinity"], [:]] {
                let infinite = try await dav(client, .propfind, "/dav/", headers: depth)
                #expect(infinite.status == .forbidden)
                #expect(String(buffer: infinite.body).contains("<D:propfind-finite-depth/>"))
            }
            let all = try await dav(client, .propfind, "/dav/", headers: [.depth: "0"])
            let root = try #require(try propfindEntries(all.body).first)
            #expect(root.href == "/dav/")
            #expect(root.properties["{DAV:}getlastmodified"]?.text.hasSuffix(" GMT") == true)
            // Quota properties are served when named, not in allprop.
            #expect(root.properties["{DAV:}quota-used-bytes"] == nil)
            let quota = try await dav(
                client, .propfind, "/dav/", headers: [.depth: "0"],
                body: #"<D:propfind xmlns:D="DAV:"><D:prop><D:quota-used-bytes/><D:quota-available-bytes/></D:prop></D:propfind>"#
            )
            let quotaEntry = try #require(try propfindEntries(quota.body).first)
            #expect(quotaEntry.properties["{DAV:}quota-used-bytes"]?.status == 200)
            #expect(Int(quotaEntry.properties["{DAV:}quota-available-bytes"]?.text ?? "") ?? 0 > 0)
        }
    }

    @Test func hostileXMLIsRefusedAtOnce() async throws {
        try await withServer({ $0.limits.bytesPerDocument = 64 << 10 }) { client, configuration in
            let laughs = """
                <?xml version="1.0"?>
                <!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
                <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;"><!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
                <D:propfind xmlns:D="DAV:"><D:prop><D:displayname>&lol4;</D:displayname></D:prop></D:propfind>
                """
            let external = """
                <?xml version="1.0"?><!DOCTYPE x [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
                <D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><Z:p xmlns:Z="urn:z">&secret;</Z:p></D:prop></D:set></D:propertyupdate>
                """
            let deep =
                #"<D:propfind xmlns:D="DAV:">"# + String(repeating: "<a>", count: 5_000) + String(repeating: "</a>", count: 5_000) + "</D:propfind>"
            let cases: [(HTTPRequest.Method, String, HTTPResponse.Status)] = [
                (.propfind, laughs, .badRequest),
                (.proppatch, external, .badRequest),
                (.propfind, deep, .badRequest),
                (.lock, "<D:lockinfo xmlns:D=\"DAV:\">" + String(repeating: " ", count: 70 << 10) + "</D:lockinfo>", .contentTooLarge),
                (.propfind, "<D:propfind xmlns:D=\"DAV:\"><D:prop>", .badRequest),
            ]
            for (method, body, status) in cases {
                let response = try await dav(client, method, "/dav/", headers: [.depth: "0"], body: body)
                #expect(response.status == status)
                #expect(response.headers[.contentType] == "application/problem+json")
            }
            // Nothing was stored: no file, and no dead property.
            #expect(try FileManager.default.contentsOfDirectory(atPath: configuration.dataDirectory + "/files").isEmpty)
            let all = try await dav(
                client, .propfind, "/dav/", headers: [.depth: "0"], body: #"<D:propfind xmlns:D="DAV:"><D:propname/></D:propfind>"#)
            #expect(!String(buffer: all.body).contains("urn:z"))
            #expect(try await dav(client, .options, "/dav/").status == .ok)
        }
    }

    /// A lock lasts at most a week, whatever the client asks for.
    @Test func lockTimeoutsAreCappedAtAWeek() async throws {
        try await withServer { client, _ in
            let info = #"<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>"#
            let asked: [(String?, String)] = [("Second-99999999", "Second-604800"), ("Infinite", "Second-604800"), ("Second-60", "Second-60")]
            for (index, (timeout, granted)) in asked.enumerated() {
                #expect(try await dav(client, .put, "/dav/l\(index).txt", body: "x").status == .created)
                var headers: HTTPFields = [:]
                if let timeout { headers[HTTPField.Name("Timeout")!] = timeout }
                let locked = try await dav(client, .lock, "/dav/l\(index).txt", headers: headers, body: info)
                #expect(locked.status == .ok)
                #expect(String(buffer: locked.body).contains("<D:timeout>\(granted)</D:timeout>"), "\(timeout ?? "none")")
            }
        }
    }

    /// A listing of more members than one batch of the reader (256) and than the first write, over HTTP.
    @Test func aListingOfManyBatchesHasEveryMemberOnce() async throws {
        try await withServer { client, configuration in
            let folder = configuration.dataDirectory + "/files/many"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let names = (0..<1_500).map { "file \($0) é.txt" }
            for name in names { _ = FileManager.default.createFile(atPath: folder + "/" + name, contents: Data(name.utf8)) }
            let listing = try await dav(client, .propfind, "/dav/many/", headers: [.depth: "1"])
            #expect(listing.status == .multiStatus)
            let entries = try propfindEntries(listing.body)
            #expect(entries.count == names.count + 1)
            let expected = Set(names.map { "/dav/many/" + PercentEncoding.encodePath($0) })
            #expect(Set(entries.dropFirst().map(\.href)) == expected)
            #expect(entries.dropFirst().allSatisfy { $0.properties["{DAV:}getcontentlength"]?.status == 200 })
        }
    }

    @Test func hostileNamesNeverReachTheFileSystem() async throws {
        try await withServer { client, configuration in
            for uri in ["/dav/%2e%2e/escape.txt", "/dav/a%00b", "/dav/bad%FFutf8", "/dav/back%5cslash", "/dav/x%2fy"] {
                let response = try await dav(client, .put, uri, body: "nope")
                #expect(response.status == .badRequest, "\(uri)")
            }
            let outside = try await dav(client, .copy, "/dav/", headers: [.destination: "/dav/%2e%2e/x"])
            #expect(outside.status == .badRequest)
            #expect(try FileManager.default.contentsOfDirectory(atPath: configuration.dataDirectory + "/files").isEmpty)
        }
    }

    @Test func aPutOverTheFileLimitIsRefusedAndLeavesNothing() async throws {
        try await withServer({ $0.limits.bytesPerFile = 1_000 }) { client, configuration in
            let over = try await dav(client, .put, "/dav/big.bin", body: String(repeating: "b", count: 1_001))
            #expect(over.status == .contentTooLarge)
            #expect(over.headers[.contentType] == "application/problem+json")
            #expect(!FileManager.default.fileExists(atPath: configuration.dataDirectory + "/files/big.bin"))
            #expect(try await dav(client, .put, "/dav/big.bin", body: String(repeating: "b", count: 1_000)).status == .created)
        }
    }

    @Test func theQuotaHoldsForPutsAndCopies() async throws {
        try await withServer({ $0.limits.storeQuotaBytes = 1_500 }) { client, configuration in
            #expect(try await dav(client, .put, "/dav/a.bin", body: String(repeating: "a", count: 1_000)).status == .created)
            let full = try await dav(client, .put, "/dav/b.bin", body: String(repeating: "b", count: 600))
            #expect(full.status == .insufficientStorage)
            #expect(full.headers[.contentType] == "application/problem+json")
            #expect(!FileManager.default.fileExists(atPath: configuration.dataDirectory + "/files/b.bin"))
            #expect(try await dav(client, .copy, "/dav/a.bin", headers: [.destination: "/dav/c.bin"]).status == .insufficientStorage)
            #expect(!FileManager.default.fileExists(atPath: configuration.dataDirectory + "/files/c.bin"))
            // Deleting gives the bytes back.
            #expect(try await dav(client, .delete, "/dav/a.bin").status == .noContent)
            #expect(try await dav(client, .put, "/dav/b.bin", body: String(repeating: "b", count: 600)).status == .created)
        }
    }

    @Test func aCollectionInABrowserIsAListOfLinks() async throws {
        try await withServer { client, _ in
            #expect(try await dav(client, .mkcol, "/dav/docs").status == .created)
            #expect(try await dav(client, .put, "/dav/docs/a%20%3Cb%3E.txt", body: "x").status == .created)
            #expect(try await dav(client, .mkcol, "/dav/docs/sub").status == .created)
            let page = try await dav(client, .get, "/dav/docs/")
            #expect(page.status == .ok)
            #expect(page.headers[.contentType] == "text/html; charset=utf-8")
            let html = String(buffer: page.body)
            #expect(html.contains("<a href=\"/dav/docs/a%20%3Cb%3E.txt\">a &lt;b&gt;.txt</a>"))
            #expect(html.contains("<a href=\"/dav/docs/sub/\">sub/</a>"))
        }
    }

    @Test(arguments: TestDatabase.allCases)
    func deadPropertiesFollowMoveAndCopyAndLeaveWithDelete(database: TestDatabase) async throws {
        try await withDatabaseServer(database) { client, db in
            #expect(try await dav(client, .mkcol, "/dav/a").status == .created)
            #expect(try await dav(client, .put, "/dav/a/f.txt", body: "one").status == .created)
            let set =
                #"<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><Z:color xmlns:Z="urn:z">red <Z:b>bold</Z:b></Z:color></D:prop></D:set></D:propertyupdate>"#
            #expect(try await dav(client, .proppatch, "/dav/a/f.txt", body: set).status == .multiStatus)
            #expect(try await dav(client, .proppatch, "/dav/a", body: set).status == .multiStatus)

            #expect(try await dav(client, .move, "/dav/a", headers: [.destination: "/dav/b"]).status == .created)
            #expect(try await storedPropertyPaths(db) == ["b", "b/f.txt"])
            #expect(try await dav(client, .copy, "/dav/b", headers: [.destination: "/dav/c"]).status == .created)
            #expect(try await storedPropertyPaths(db) == ["b", "b/f.txt", "c", "c/f.txt"])

            let get = #"<D:propfind xmlns:D="DAV:"><D:prop><Z:color xmlns:Z="urn:z"/></D:prop></D:propfind>"#
            let copied = try propfindEntries(try await dav(client, .propfind, "/dav/c/f.txt", headers: [.depth: "0"], body: get).body)
            #expect(copied.first?.properties["{urn:z}color"]?.status == 200)
            #expect(copied.first?.properties["{urn:z}color"]?.text.hasPrefix("red <") == true)
            #expect(copied.first?.properties["{urn:z}color"]?.text.contains(">bold</") == true)

            #expect(try await dav(client, .delete, "/dav/b").status == .noContent)
            #expect(try await storedPropertyPaths(db) == ["c", "c/f.txt"])

            // All or nothing: a protected property in the same PROPPATCH leaves the other one unset.
            let mixed =
                #"<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><Z:size xmlns:Z="urn:z">9</Z:size><D:getetag>x</D:getetag></D:prop></D:set></D:propertyupdate>"#
            let refused = try propfindEntries(try await dav(client, .proppatch, "/dav/c/f.txt", body: mixed).body)
            #expect(refused.first?.properties["{urn:z}size"]?.status == 424)
            #expect(refused.first?.properties["{DAV:}getetag"]?.status == 403)
            #expect(try await storedPropertyPaths(db) == ["c", "c/f.txt"])
        }
    }

    @Test(arguments: TestDatabase.allCases)
    func aLockTakenThroughOneProcessHoldsInAnother(database: TestDatabase) async throws {
        try await withTwoServerProcesses(database) { one, two, dataDir in
            @Sendable func send(_ method: String, _ url: String, body: String = "", headers: [(String, String)] = []) async throws
                -> HTTPClientResponse
            {
                var request = HTTPClientRequest(url: url)
                request.method = .RAW(value: method)
                for (name, value) in headers { request.headers.add(name: name, value: value) }
                if !body.isEmpty { request.body = .bytes(ByteBuffer(string: body)) }
                return try await HTTPClient.shared.execute(request, timeout: .seconds(30))
            }
            let exclusive = #"<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>"#
            #expect(try await send("PUT", one + "/dav/shared.txt", body: "v1").status == .created)

            // Taken through one, it holds in the other: LOCK conflicts, and a write needs the token.
            let locked = try await send("LOCK", one + "/dav/shared.txt", body: exclusive)
            #expect(locked.status == .ok)
            let token = try #require(locked.headers.first(name: "Lock-Token"))
            #expect(try await send("LOCK", two + "/dav/shared.txt", body: exclusive).status.code == 423)
            #expect(try await send("PUT", two + "/dav/shared.txt", body: "v2").status.code == 423)
            #expect(FileManager.default.contents(atPath: dataDir + "/files/shared.txt") == Data("v1".utf8))
            #expect(try await send("PUT", two + "/dav/shared.txt", body: "v2", headers: [("If", "(\(token))")]).status == .noContent)
            #expect(FileManager.default.contents(atPath: dataDir + "/files/shared.txt") == Data("v2".utf8))

            // Released in the other, it is free in the first.
            #expect(try await send("UNLOCK", two + "/dav/shared.txt", headers: [("Lock-Token", token)]).status == .noContent)
            #expect(try await send("PUT", one + "/dav/shared.txt", body: "v3").status == .noContent)
            let again = try await send("LOCK", one + "/dav/shared.txt", body: exclusive)
            #expect(again.status == .ok)

            // Twelve LOCKs of a new file race through both processes at once: exactly one wins.
            #expect(try await send("PUT", one + "/dav/raced.txt", body: "r").status == .created)
            let statuses = try await withThrowingTaskGroup(of: UInt.self) { group in
                for index in 0..<12 {
                    group.addTask { try await send("LOCK", (index % 2 == 0 ? one : two) + "/dav/raced.txt", body: exclusive).status.code }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == 200 }.count == 1, "\(statuses)")
            #expect(statuses.filter { $0 == 423 }.count == 11, "\(statuses)")
        }
    }

    /// PROPFIND skips the property table while no property exists anywhere (a marker file says so):
    /// a property set through one process must still be seen by the other, and its removal too.
    @Test(arguments: TestDatabase.allCases)
    func aPropertySetThroughOneProcessIsSeenByAnother(database: TestDatabase) async throws {
        try await withTwoServerProcesses(database) { one, two, dataDir in
            func send(_ method: String, _ url: String, _ body: String, depth: String? = nil) async throws -> (Int, String) {
                var request = HTTPClientRequest(url: url)
                request.method = .RAW(value: method)
                if let depth { request.headers.add(name: "Depth", value: depth) }
                if !body.isEmpty { request.body = .bytes(ByteBuffer(string: body)) }
                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
                return (Int(response.status.code), String(buffer: try await response.body.collect(upTo: 1 << 20)))
            }
            let marker = dataDir + "/dav-properties.present"
            let color = #"<D:propfind xmlns:D="DAV:" xmlns:Z="urn:z"><D:prop><Z:color/></D:prop></D:propfind>"#
            #expect(try await send("PUT", one + "/dav/a.txt", "a").0 == 201)
            #expect(!FileManager.default.fileExists(atPath: marker))
            #expect(try await send("PROPFIND", two + "/dav/", color, depth: "1").1.contains("404 Not Found"))

            let set = #"<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><Z:color xmlns:Z="urn:z">red</Z:color></D:prop></D:set></D:propertyupdate>"#
            #expect(try await send("PROPPATCH", one + "/dav/a.txt", set).0 == 207)
            #expect(FileManager.default.fileExists(atPath: marker))
            for (depth, url) in [("0", two + "/dav/a.txt"), ("1", two + "/dav/")] {
                let (status, body) = try await send("PROPFIND", url, color, depth: depth)
                #expect(status == 207)
                #expect(try propfindEntries(ByteBuffer(string: body)).first { $0.href == "/dav/a.txt" }?.properties["{urn:z}color"]?.text == "red")
            }

            let remove = #"<D:propertyupdate xmlns:D="DAV:"><D:remove><D:prop><Z:color xmlns:Z="urn:z"/></D:prop></D:remove></D:propertyupdate>"#
            #expect(try await send("PROPPATCH", two + "/dav/a.txt", remove).0 == 207)
            #expect(!FileManager.default.fileExists(atPath: marker))
            let (_, after) = try await send("PROPFIND", one + "/dav/a.txt", color, depth: "0")
            #expect(try propfindEntries(ByteBuffer(string: after)).first?.properties["{urn:z}color"]?.status == 404)
        }
    }

    @Test(arguments: TestDatabase.allCases)
    func anExpiredLockNoLongerHoldsAndIsSwept(database: TestDatabase) async throws {
        try await withDatabaseServer(database) { client, db, configuration in
            #expect(try await dav(client, .put, "/dav/x.txt", body: "1").status == .created)
            let info = #"<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>"#
            let locked = try await dav(client, .lock, "/dav/x.txt", headers: [HTTPField.Name("Timeout")!: "Second-600"], body: info)
            #expect(locked.status == .ok)
            #expect(String(buffer: locked.body).contains("<D:timeout>Second-600</D:timeout>"))
            #expect(try await dav(client, .put, "/dav/x.txt", body: "2").status == .locked)
            // Time passes in the database (milliseconds) rather than on a busy machine's clock: the lock ran out a second ago.
            try await db.withConnection { sql in
                try await sql.raw("UPDATE dav_locks SET expires_at = \(bind: Int(Date().timeIntervalSince1970 * 1000) - 1_000)").run()
            }
            #expect(try await dav(client, .put, "/dav/x.txt", body: "3").status == .noContent)
            let relocked = try await dav(client, .lock, "/dav/x.txt", body: info)
            #expect(relocked.status == .ok)
            let rows = try await db.withConnection { sql in try await sql.raw("SELECT token FROM dav_locks").all().count }
            #expect(rows == 1)
            // The marker that lets writes skip the lock query exists exactly while a lock may.
            #expect(FileManager.default.fileExists(atPath: configuration.dataDirectory + "/dav-locks.present"))
            let token = try #require(relocked.headers[.lockToken])
            #expect(try await dav(client, .unlock, "/dav/x.txt", headers: [.lockToken: token]).status == .noContent)
            #expect(!FileManager.default.fileExists(atPath: configuration.dataDirectory + "/dav-locks.present"))
            #expect(try await dav(client, .put, "/dav/x.txt", body: "4").status == .noContent)
        }
    }

    @Test func modificationTimesFromClientsAreKept() async throws {
        try await withServer { client, configuration in
            let put = try await dav(client, .put, "/dav/oc.txt", headers: [HTTPField.Name("X-OC-Mtime")!: "1500000000"], body: "x")
            #expect(put.status == .created)
            #expect(put.headers[HTTPField.Name("X-OC-Mtime")!] == "accepted")
            let onDisk = try FileManager.default.attributesOfItem(atPath: configuration.dataDirectory + "/files/oc.txt")[.modificationDate] as? Date
            #expect(onDisk == Date(timeIntervalSince1970: 1_500_000_000))

            #expect(try await dav(client, .put, "/dav/win.txt", body: "y").status == .created)
            let patch =
                #"<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:"><D:set><D:prop><Z:Win32LastModifiedTime>Tue, 14 Jul 2017 02:40:00 GMT</Z:Win32LastModifiedTime></D:prop></D:set></D:propertyupdate>"#
            #expect(try await dav(client, .proppatch, "/dav/win.txt", body: patch).status == .multiStatus)
            let windows = try FileManager.default.attributesOfItem(atPath: configuration.dataDirectory + "/files/win.txt")[.modificationDate] as? Date
            #expect(windows == Date(timeIntervalSince1970: 1_500_000_000))
        }
    }

    @Test func chunkedPutWithExpectContinueIsStoredWhole() async throws {
        try await withServer { client, configuration in
            let connection = try RawConnection(port: client.port!)
            try await connection.send(
                Array("PUT /dav/finder.bin HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n".utf8))
            #expect(try await connection.receive(until: "\r\n\r\n").hasPrefix("HTTP/1.1 100 Continue"))
            let part = [UInt8](repeating: UInt8(ascii: "z"), count: 100_000)
            var body: [UInt8] = []
            for _ in 0..<3 { body += Array("\(String(part.count, radix: 16))\r\n".utf8) + part + Array("\r\n".utf8) }
            try await connection.send(body + Array("0\r\n\r\n".utf8))
            #expect(try await connection.receive(until: "\r\n\r\n").hasPrefix("HTTP/1.1 201"))
            #expect(FileManager.default.contents(atPath: configuration.dataDirectory + "/files/finder.bin")?.count == 300_000)
        }
    }
}

/// The resource paths that have dead properties in the database, sorted.
private func storedPropertyPaths(_ database: Database) async throws -> [String] {
    try await database.withConnection { sql in
        Set(try await sql.raw("SELECT path FROM dav_properties").all().map { try $0.decode(column: "path", as: String.self) }).sorted()
    }
}

/// Two `multistatus serve` processes on one data folder and one database (a SQLite file, or a fresh
/// PostgreSQL database); `body` gets their base URLs and the folder.
private func withTwoServerProcesses(
    _ database: TestDatabase,
    _ body: @escaping @Sendable (_ one: String, _ two: String, _ dataDir: String) async throws -> Void
) async throws {
    try await withTemporaryDirectory { dataDir in
        let run: (String) async throws -> Void = { databaseURL in
            let (first, firstLine) = try await startServeProcess(["--port", "0", "--data-dir", dataDir, "--database", databaseURL])
            defer { first.terminate() }
            let (second, secondLine) = try await startServeProcess(["--port", "0", "--data-dir", dataDir, "--database", databaseURL])
            defer { second.terminate() }
            try await body(
                try #require(firstLine.components(separatedBy: " ").last), try #require(secondLine.components(separatedBy: " ").last), dataDir)
        }
        switch database {
        case .sqlite:
            try await run("sqlite:" + dataDir + "/shared.sqlite")
        case .postgres:
            guard let adminURL = TestDatabase.postgresURL() else { return }
            try await withFreshPostgresDatabase(adminURL: adminURL) { try await run($0) }
        }
    }
}
