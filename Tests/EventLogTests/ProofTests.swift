import EventLog
import Foundation
import Testing

/// SHA-256 of the concatenation, through the log's own digest.
private func sha256(_ parts: [UInt8]...) -> [UInt8] {
    parts.flatMap { $0 }.withUnsafeBytes { LogDigest.sha256($0) }
}

/// RFC 6962 §2.1, written from the definition, over every record hash of the log.
private func naiveRoot(_ hashes: ArraySlice<[UInt8]>) -> [UInt8] {
    if hashes.isEmpty { return sha256([]) }
    if hashes.count == 1 { return sha256([0], hashes.first!) }
    var k = 1
    while k * 2 < hashes.count { k *= 2 }
    let mid = hashes.startIndex + k
    return sha256([1], naiveRoot(hashes[..<mid]), naiveRoot(hashes[mid...]))
}

private func recordHashes(_ log: EventLog) throws -> [[UInt8]] {
    try log.records().map { Hex.decode($0.hash)! }
}

/// A ledger directory with a signing key, as `init` leaves it.
private func signedLog(_ name: String, options: EventLog.Options = .init()) throws -> (EventLog, LedgerSigningKey) {
    let path = temporaryLedgerPath(name)
    let log = try EventLog(path: path, options: options)
    try LedgerSigningKey().install(ledgerPath: path)
    return (log, try LedgerSigningKey.load(ledgerPath: path)!)
}

@Suite("Merkle tree, receipts and proofs")
struct ProofTests {
    @Test("the tree kept on append has RFC 6962's root at every size, across the stored levels")
    func rootsMatchTheDefinition() async throws {
        let log = try EventLog(path: temporaryLedgerPath("merkle"))
        var generator = SeededGenerator(seed: 16)
        var appended = 0
        #expect(try log.merkleRoot().root == sha256([]))
        while appended < 300 {
            let count = Int.random(in: 1...9, using: &generator)
            _ = try await log.append(AppendBatch(records: (0..<count).map { record("r\(appended + $0)", stream: "lead-\($0 % 3)") }))
            appended += count
            let hashes = try recordHashes(log)
            #expect(try log.merkleRoot().root == naiveRoot(hashes[...]), "size \(appended)")
        }
        // Every earlier size too, as a receipt or a proof asks for them.
        let hashes = try recordHashes(log)
        for size in [1, 2, 3, 63, 64, 65, 127, 128, 129, 255, 256, 257, hashes.count] where size <= hashes.count {
            #expect(try log.merkleRoot(size: UInt64(size)).root == naiveRoot(hashes[..<size]), "size \(size)")
        }
        #expect(throws: MerkleError.self) { try log.merkleRoot(size: UInt64(hashes.count + 1)) }
        #expect(try log.verify().isIntact)
    }

    @Test("a log appended to without the tree gets it built at its next append, equal to one kept all along")
    func treeBuiltForAnOlderLog() async throws {
        let path = temporaryLedgerPath("older")
        do {
            var options = EventLog.Options()
            options.maintainsMerkleTree = false
            let log = try EventLog(path: path, options: options)
            for i in 0..<150 { _ = try await log.append(AppendBatch(records: [record("old \(i)")])) }
            log.close()
        }
        let log = try EventLog(path: path)
        _ = try await log.append(AppendBatch(records: [record("new")]))
        let hashes = try recordHashes(log)
        #expect(try log.merkleRoot().root == naiveRoot(hashes[...]))
        #expect(try log.verify().isIntact)
    }

    @Test("inclusion proofs hold for every position and fail for a changed hash, another position or another size")
    func inclusionProofs() async throws {
        let log = try EventLog(path: temporaryLedgerPath("inclusion"))
        for i in 0..<140 { _ = try await log.append(AppendBatch(records: [record("e\(i)")])) }
        let hashes = try recordHashes(log)
        for size in [1, 7, 64, 65, 100, 140] {
            let root = try log.merkleRoot(size: UInt64(size)).root
            for position in 1...size {
                let path = try log.inclusionProof(position: UInt64(position), treeSize: UInt64(size))
                let leaf = MerkleTree.leafHash(hashes[position - 1])
                #expect(MerkleTree.verifyInclusion(leafHash: leaf, index: UInt64(position - 1), treeSize: UInt64(size), path: path, root: root))
                if size > 1 {
                    let other = (position % size)  // another index
                    #expect(!MerkleTree.verifyInclusion(leafHash: leaf, index: UInt64(other), treeSize: UInt64(size), path: path, root: root))
                    var bent = path
                    bent[0][0] ^= 1
                    #expect(!MerkleTree.verifyInclusion(leafHash: leaf, index: UInt64(position - 1), treeSize: UInt64(size), path: bent, root: root))
                }
                var wrongLeaf = leaf
                wrongLeaf[31] ^= 0x80
                #expect(!MerkleTree.verifyInclusion(leafHash: wrongLeaf, index: UInt64(position - 1), treeSize: UInt64(size), path: path, root: root))
            }
        }
        let root140 = try log.merkleRoot().root
        let path = try log.inclusionProof(position: 3, treeSize: 100)
        #expect(!MerkleTree.verifyInclusion(leafHash: MerkleTree.leafHash(hashes[2]), index: 2, treeSize: 140, path: path, root: root140))
    }

    @Test("full verify reports a Merkle node altered in the file")
    func alteredNode() async throws {
        let path = temporaryLedgerPath("node")
        do {
            let log = try EventLog(path: path)
            for i in 0..<70 { _ = try await log.append(AppendBatch(records: [record("n\(i)")])) }
            #expect(try log.verify().isIntact)
            log.close()
        }
        // The one level-6 node, stored under "m" ‖ 6 ‖ index 0: overwrite every copy of its value.
        let log = try EventLog(path: path, options: .init(readOnly: true))
        let node = try log.merkleRoot(size: 64).root
        log.close()
        let file = URL(fileURLWithPath: path + "/data.mdb")
        var data = try Data(contentsOf: file)
        let ranges = data.ranges(of: Data(node))
        try #require(!ranges.isEmpty)
        for range in ranges { data[range.lowerBound] ^= 0x01 }
        try data.write(to: file)
        let reopened = try EventLog(path: path)
        let report = try reopened.verify()
        #expect(report.problem?.message.contains("Merkle") == true)
    }

    @Test("a receipt verifies under the ledger's key; altered or signed by another key it is refused")
    func receipts() async throws {
        let (log, key) = try signedLog("receipt")
        for i in 0..<10 { _ = try await log.append(AppendBatch(records: [record("x\(i)")])) }
        let receipt = try log.receipt(signedBy: key)
        #expect(receipt.position == 10)
        #expect(receipt.headHash == (try log.head().hash))
        #expect(receipt.problem(trustedKey: key.publicKeyHex) == nil)

        // Forged: the same fields with another head, re-encoded with the old signature.
        var json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(receipt)) as! [String: Any]
        json["position"] = 9
        let forged = try SignedReceipt.decode(JSONSerialization.data(withJSONObject: json))
        #expect(forged.problem(trustedKey: key.publicKeyHex)?.contains("does not match") == true)
        #expect(try log.verify(since: forged, trustedKey: key.publicKeyHex).problem != nil)

        // Signed by a key that is not the ledger's: valid on its own, refused by the ledger.
        let stranger = try log.receipt(signedBy: LedgerSigningKey())
        #expect(stranger.problem() == nil)
        #expect(stranger.problem(trustedKey: key.publicKeyHex)?.contains("not by the ledger's key") == true)
        #expect(try log.verify(since: stranger, trustedKey: key.publicKeyHex).problem != nil)

        // Neither the receipt nor its JSON carries the private key.
        let keyFile = try String(contentsOfFile: LedgerSigningKey.path(inLedger: log.path), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(keyFile.count == 64)
        #expect(!String(decoding: try JSONEncoder().encode(receipt), as: UTF8.self).contains(keyFile))
    }

    @Test("verify --since checks only what was appended after the receipt, and sees damage there")
    func verifySince() async throws {
        let path = temporaryLedgerPath("since")
        let marker = "AFTER-\(UUID().uuidString)"
        let key = LedgerSigningKey()
        let receipt: SignedReceipt
        do {
            let log = try EventLog(path: path)
            for i in 0..<500 { _ = try await log.append(AppendBatch(records: [record("before \(i)")])) }
            receipt = try log.receipt(signedBy: key)
            for i in 0..<30 { _ = try await log.append(AppendBatch(records: [record(i == 20 ? marker : "after \(i)")])) }
            let report = try log.verify(since: receipt, trustedKey: key.publicKeyHex)
            #expect(report.isIntact)
            // Proportional to what was appended: 30 records walked, not 530.
            #expect(report.records == 30)
            #expect(report.head == (try log.head()))
            // A receipt of the current head: nothing to walk.
            #expect(try log.verify(since: log.receipt(signedBy: key), trustedKey: key.publicKeyHex).records == 0)
            log.close()
        }
        let file = URL(fileURLWithPath: path + "/data.mdb")
        var data = try Data(contentsOf: file)
        for range in data.ranges(of: Data(marker.utf8)) { data[range.lowerBound + 2] ^= 0x01 }
        try data.write(to: file)
        let log = try EventLog(path: path)
        let report = try log.verify(since: receipt, trustedKey: key.publicKeyHex)
        #expect(report.problem?.position == 521)
    }

    @Test("a flipped byte before the receipt's position is reported by a full verify")
    func damageBeforeTheReceipt() async throws {
        let path = temporaryLedgerPath("before")
        let marker = "EARLY-\(UUID().uuidString)"
        let key = LedgerSigningKey()
        let receipt: SignedReceipt
        do {
            let log = try EventLog(path: path)
            for i in 0..<40 { _ = try await log.append(AppendBatch(records: [record(i == 5 ? marker : "e\(i)")])) }
            receipt = try log.receipt(signedBy: key)
            for i in 0..<5 { _ = try await log.append(AppendBatch(records: [record("later \(i)")])) }
            log.close()
        }
        let file = URL(fileURLWithPath: path + "/data.mdb")
        var data = try Data(contentsOf: file)
        let ranges = data.ranges(of: Data(marker.utf8))
        try #require(!ranges.isEmpty)
        for range in ranges { data[range.lowerBound + 1] ^= 0x01 }
        try data.write(to: file)
        let log = try EventLog(path: path)
        #expect(try log.verify().problem?.position == 6)
        // The receipt's head hash itself is untouched: only the full walk can see this.
        #expect(try log.verify(since: receipt, trustedKey: key.publicKeyHex).isIntact)
    }

    @Test("a record's base64 with a last character's unused bits set decodes to the same bytes, and the proof fails")
    func canonicalBase64() async throws {
        let (log, key) = try signedLog("canonical")
        // 64 header bytes + 4 payload bytes: 68 bytes leave two over a multiple of 3, so the text ends
        // in one "=" and the character before it has two unused bits.
        _ = try await log.append(AppendBatch(records: [record("abcd", stream: "lead-1")]))
        let proof = try #require(try log.proof(stream: "lead-1", signedBy: key))
        let text = String(decoding: try JSONEncoder().encode(proof), as: UTF8.self)
        let original = proof.records[0].record
        #expect(original.hasSuffix("=") && !original.hasSuffix("=="), "the record's length leaves unused bits: \(original)")
        var characters = Array(original)
        let last = characters.count - 2
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        let index = try #require(alphabet.firstIndex(of: characters[last]))
        characters[last] = alphabet[index ^ 1]
        let bent = String(characters)
        #expect(Data(base64Encoded: bent) == Data(base64Encoded: original), "the decoder ignores the unused bits")
        var object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        var records = try #require(object["records"] as? [[String: Any]])
        records[0]["record"] = bent
        object["records"] = records
        let decoded = try StreamProof.decode(try JSONSerialization.data(withJSONObject: object))
        #expect(decoded.records[0].record == bent)
        #expect(decoded.problem(trustedKey: key.publicKeyHex)?.contains("canonical base64") == true)
        #expect(proof.problem(trustedKey: key.publicKeyHex) == nil)
    }

    @Test("a stream's proof holds for random streams; any changed byte, or another head, makes it fail")
    func streamProofs() async throws {
        let (log, key) = try signedLog("proofs")
        var generator = SeededGenerator(seed: 6962)
        for i in 0..<400 {
            let lead = "lead-\(Int.random(in: 0..<25, using: &generator))"
            _ = try await log.append(AppendBatch(records: [record("event \(i) of \(lead)", stream: lead)]))
        }
        for _ in 0..<6 {
            let lead = "lead-\(Int.random(in: 0..<25, using: &generator))"
            let proof = try #require(try log.proof(stream: lead, signedBy: key))
            #expect(proof.records.count == (try log.records(inStream: lead).count))
            #expect(proof.problem(trustedKey: key.publicKeyHex, streamName: leadNamed) == nil)
            #expect(proof.problem(trustedKey: LedgerSigningKey().publicKeyHex, streamName: leadNamed) != nil)

            // Any byte of the encoded proof changed: it no longer decodes, or no longer holds.
            let encoded = Array(try JSONEncoder().encode(proof))
            for _ in 0..<40 {
                var bent = encoded
                let at = Int.random(in: 0..<bent.count, using: &generator)
                let original = bent[at]
                bent[at] = original == UInt8(ascii: "0") ? UInt8(ascii: "1") : UInt8(ascii: "0")
                guard let decoded = try? StreamProof.decode(Data(bent)) else { continue }
                if decoded == proof { continue }  // a change JSON decoding absorbs (an escape, say)
                #expect(
                    decoded.problem(trustedKey: key.publicKeyHex, streamName: leadNamed) != nil,
                    "byte \(at): \(String(decoding: encoded[max(0, at - 40)..<min(encoded.count, at + 40)], as: UTF8.self))")
            }
        }
        // The same records against another head: the paths do not lead to its root.
        let lead = "lead-3"
        let early = try #require(try log.proof(stream: lead, signedBy: key))
        // The stream's name is outside the hashes: relabelled as another lead's, the proof must fail.
        let relabelled = String(decoding: try JSONEncoder().encode(early), as: UTF8.self)
            .replacingOccurrences(of: "\"stream\":\"lead-3\"", with: "\"stream\":\"lead-4\"")
        let forged = try StreamProof.decode(Data(relabelled.utf8))
        #expect(forged.stream == "lead-4")
        #expect(forged.problem(trustedKey: key.publicKeyHex, streamName: leadNamed) != nil)
        _ = try await log.append(AppendBatch(records: [record("later", stream: "lead-other")]))
        let later = try log.receipt(signedBy: key)
        let moved = StreamProofSwap.replacingReceipt(of: early, with: later)
        #expect(moved.problem(trustedKey: key.publicKeyHex) != nil)
        #expect(try log.proof(stream: "nobody", signedBy: key) == nil)
    }

    @Test("the signing key file is the owner's only; a key others can read is refused")
    func keyFileMode() throws {
        let path = temporaryLedgerPath("keymode")
        let log = try EventLog(path: path)
        defer { log.close() }
        try LedgerSigningKey().install(ledgerPath: path)
        let keyPath = LedgerSigningKey.path(inLedger: path)
        let mode = try FileManager.default.attributesOfItem(atPath: keyPath)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(throws: SigningKeyError.self) { try LedgerSigningKey().install(ledgerPath: path) }
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: keyPath)
        #expect(throws: SigningKeyError.self) { try LedgerSigningKey.load(ledgerPath: path) }
        #expect(throws: SigningKeyError.self) { try LedgerSigningKey(contents: Array("not a key".utf8)) }
    }
}

/// Builds a proof whose records are another proof's under another receipt, through its JSON.
enum StreamProofSwap {
    static func replacingReceipt(of proof: StreamProof, with receipt: SignedReceipt) -> StreamProof {
        var json = try! JSONSerialization.jsonObject(with: JSONEncoder().encode(proof)) as! [String: Any]
        json["receipt"] = try! JSONSerialization.jsonObject(with: JSONEncoder().encode(receipt))
        return try! StreamProof.decode(JSONSerialization.data(withJSONObject: json))
    }
}

/// The lead a test record's payload names: its text ends "of lead-N".
private func leadNamed(_ payload: UnsafeRawBufferPointer) -> String? {
    let text = String(decoding: payload, as: UTF8.self)
    return text.range(of: " of ").map { String(text[$0.upperBound...]) }
}
