import CLMDB
import Foundation
import LMDB
import Testing

func temporaryDirectory(_ name: String = "lmdb") throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("leadledger-\(name)-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

@Suite("LMDB")
struct LMDBTests {
    @Test("every Swift flag equals its C constant")
    func flagsMatchC() {
        #expect(EnvironmentFlags.noSubdirectory.rawValue == UInt32(MDB_NOSUBDIR))
        #expect(EnvironmentFlags.readOnly.rawValue == UInt32(MDB_RDONLY))
        #expect(EnvironmentFlags.noMetaSync.rawValue == UInt32(MDB_NOMETASYNC))
        #expect(EnvironmentFlags.noSync.rawValue == UInt32(MDB_NOSYNC))
        #expect(EnvironmentFlags.writeMap.rawValue == UInt32(MDB_WRITEMAP))
        #expect(EnvironmentFlags.noThreadLocalStorage.rawValue == UInt32(MDB_NOTLS))
        #expect(EnvironmentFlags.noReadAhead.rawValue == UInt32(MDB_NORDAHEAD))
        #expect(EnvironmentFlags.noLock.rawValue == UInt32(MDB_NOLOCK))
        #expect(DatabaseFlags.reverseKey.rawValue == UInt32(MDB_REVERSEKEY))
        #expect(DatabaseFlags.duplicateSort.rawValue == UInt32(MDB_DUPSORT))
        #expect(DatabaseFlags.integerKey.rawValue == UInt32(MDB_INTEGERKEY))
        #expect(DatabaseFlags.duplicateFixed.rawValue == UInt32(MDB_DUPFIXED))
        #expect(DatabaseFlags.integerDuplicate.rawValue == UInt32(MDB_INTEGERDUP))
        #expect(DatabaseFlags.reverseDuplicate.rawValue == UInt32(MDB_REVERSEDUP))
        #expect(DatabaseFlags.create.rawValue == UInt32(MDB_CREATE))
        #expect(PutFlags.noOverwrite.rawValue == UInt32(MDB_NOOVERWRITE))
        #expect(PutFlags.noDuplicateData.rawValue == UInt32(MDB_NODUPDATA))
        #expect(PutFlags.current.rawValue == UInt32(MDB_CURRENT))
        #expect(PutFlags.append.rawValue == UInt32(MDB_APPEND))
        #expect(PutFlags.appendDuplicate.rawValue == UInt32(MDB_APPENDDUP))
        #expect(LMDBError.Code.mapFull.rawValue == MDB_MAP_FULL)
        #expect(LMDBError.Code.keyExists.rawValue == MDB_KEYEXIST)
        #expect(LMDBError.Code.notFound.rawValue == MDB_NOTFOUND)
    }

    @Test("the environment is always opened with MDB_NOTLS")
    func notls() throws {
        let env = try Environment(path: try temporaryDirectory())
        #expect(env.flags.contains(.noThreadLocalStorage))
        #expect(Environment.libraryVersion.hasPrefix("LMDB"))
    }

    @Test("a committed write is read back; a throwing write leaves nothing")
    func writeAndRead() throws {
        let env = try Environment(path: try temporaryDirectory())
        let db = try env.openDatabase("kv", flags: .create)
        try env.write { txn in
            try Array("k".utf8).withUnsafeBytes { k in try Array("v1".utf8).withUnsafeBytes { try txn.put($0, forKey: k, in: db) } }
        }
        struct Boom: Error {}
        #expect(throws: Boom.self) {
            try env.write { txn in
                try Array("k2".utf8).withUnsafeBytes { k in try Array("v2".utf8).withUnsafeBytes { try txn.put($0, forKey: k, in: db) } }
                throw Boom()
            }
        }
        let (v1, v2) = try env.read { txn in
            (
                try Array("k".utf8).withUnsafeBytes { try txn.value(forKey: $0, in: db) },
                try Array("k2".utf8).withUnsafeBytes { try txn.value(forKey: $0, in: db) }
            )
        }
        #expect(v1 == Array("v1".utf8))
        #expect(v2 == nil)
    }

    @Test("noOverwrite refuses an existing key with a matchable keyExists")
    func keyExists() throws {
        let env = try Environment(path: try temporaryDirectory())
        let db = try env.openDatabase("ints", flags: [.create, .integerKey])
        let value: [UInt8] = [1, 2, 3]
        try env.write { txn in try value.withUnsafeBytes { try txn.put($0, forKey: UInt64(7), in: db, flags: .noOverwrite) } }
        var matched = false
        do {
            try env.write { txn in try value.withUnsafeBytes { try txn.put($0, forKey: UInt64(7), in: db, flags: .noOverwrite) } }
        } catch LMDBError.keyExists {
            matched = true
        }
        #expect(matched)
    }

    @Test("a read snapshot does not see a later commit")
    func snapshotIsolation() throws {
        let env = try Environment(path: try temporaryDirectory())
        let db = try env.openDatabase("ints", flags: [.create, .integerKey])
        try env.write { txn in try [UInt8(1)].withUnsafeBytes { try txn.put($0, forKey: UInt64(1), in: db) } }
        let counts = try env.read { txn in
            let before = try txn.statistics(of: db).entries
            try env.write { w in try [UInt8(2)].withUnsafeBytes { try w.put($0, forKey: UInt64(2), in: db) } }
            let after = try txn.statistics(of: db).entries
            return (before, after)
        }
        #expect(counts.0 == 1 && counts.1 == 1)
        #expect(try env.read { try $0.statistics(of: db).entries } == 2)
    }

    @Test("cursors walk integer keys in order and count duplicates")
    func cursors() throws {
        let env = try Environment(path: try temporaryDirectory())
        let db = try env.openDatabase("dups", flags: [.create, .integerKey, .duplicateSort, .duplicateFixed, .integerDuplicate])
        try env.write { txn in
            for key in [UInt32(3), 1, 2] {
                for v in [UInt64(30), 10, 20] {
                    var value = v + UInt64(key)
                    try withUnsafeBytes(of: &value) { try txn.put($0, forKey: key, in: db) }
                }
            }
        }
        let (keys, count) = try env.read { txn in
            try txn.withCursor(on: db) { cursor in
                var keys: [UInt32] = []
                try cursor.forEach { entry in
                    keys.append(entry.key.loadUnaligned(as: UInt32.self))
                    return true
                }
                _ = try cursor.move(.setKey, integerKey: UInt32(2))
                return (keys, try cursor.duplicateCount())
            }
        }
        #expect(keys == [1, 1, 1, 2, 2, 2, 3, 3, 3])
        #expect(count == 3)
    }

    @Test("a full map is a matchable mapFull error, and a bigger map fixes it")
    func mapFull() throws {
        let path = try temporaryDirectory()
        var caught: LMDBError?
        do {
            let env = try Environment(path: path, options: .init(mapSize: 64 << 10))
            let db = try env.openDatabase("big", flags: [.create, .integerKey])
            let chunk = [UInt8](repeating: 7, count: 4000)
            try env.write { txn in
                for i in 0..<UInt64(100) { try chunk.withUnsafeBytes { try txn.put($0, forKey: i, in: db) } }
            }
        } catch let error as LMDBError {
            caught = error
        }
        #expect(caught?.code == .mapFull)
        #expect(caught?.description.contains("MDB_MAP_FULL") == true)
    }

    @Test("copy writes a compacted snapshot that opens")
    func copy() throws {
        let env = try Environment(path: try temporaryDirectory())
        let db = try env.openDatabase("ints", flags: [.create, .integerKey])
        try env.write { txn in
            for i in 1...100 as ClosedRange<UInt64> { try [UInt8(1)].withUnsafeBytes { try txn.put($0, forKey: i, in: db) } }
        }
        let dest = try temporaryDirectory("copy")
        try env.copy(to: dest)
        let copy = try Environment(path: dest, options: .init(flags: .readOnly))
        let copied = try copy.read { txn in try txn.statistics(of: try txn.openDatabase("ints", flags: .integerKey)).entries }
        #expect(copied == 100)
    }
}
