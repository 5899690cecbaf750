import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Keeps every write of an environment to one process at a time and stops a process whose lock
/// file was taken from it.
///
/// LMDB serialises writers through a mutex that lives in the lock file. If that file is deleted
/// while a process has the environment open, the next process to open it creates a new lock file
/// with a new mutex, and two processes then write the same data file at once, each trusting its
/// own cached view of the free pages: acknowledged records and whole trees get lost. Two defences:
///
/// - an advisory `flock` on a descriptor of the data file, held for the whole write transaction.
///   It does not depend on the lock file, so writers of different lock files still exclude each
///   other;
/// - the lock file's identity (device and inode) seen at open, compared before each write. A
///   process whose lock file is gone or replaced stops writing for good, since its cached view of
///   the file can no longer be trusted, and reports why through ``check()``;
/// - the commit a write transaction starts from, compared with the data file's newest commit (see
///   `Environment.write`): a process that opened after the lock file was deleted, while the old one
///   was still committing, has a lock file that names an older commit, and stops too.
final class WriteGuard: Sendable {
    private let descriptor: Int32
    private let lockPath: String
    private let lockIdentity: FileIdentity
    /// Held for a whole write transaction, so threads of this process take the `flock` in turn
    /// (the `flock` belongs to the open file description, shared by every thread).
    private let inProcess = Mutex<Void>(())
    private let lost = Mutex<String?>(nil)

    struct FileIdentity: Equatable {
        let device: UInt64
        let inode: UInt64
        init?(path: String) {
            var info = stat()
            guard stat(path, &info) == 0 else { return nil }
            device = UInt64(info.st_dev)
            inode = UInt64(info.st_ino)
        }
    }

    init(dataPath: String, lockPath: String) throws(LMDBError) {
        let fd = open(dataPath, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw LMDBError(.init(rawValue: errno), operation: "open(\(dataPath)) for the write lock") }
        guard let identity = FileIdentity(path: lockPath) else {
            close(fd)
            throw LMDBError(.init(rawValue: errno), operation: "stat(\(lockPath))")
        }
        descriptor = fd
        self.lockPath = lockPath
        lockIdentity = identity
    }

    deinit { close(descriptor) }

    /// Why writes are refused, or `nil` while the lock file is the one opened.
    func check() -> String? {
        if let reason = lost.withLock({ $0 }) { return reason }
        let now = FileIdentity(path: lockPath)
        guard now != lockIdentity else { return nil }
        let reason =
            now == nil
            ? "the lock file \(lockPath) was deleted while the ledger was open; this process stopped writing (restart it)"
            : "the lock file \(lockPath) was replaced while the ledger was open; this process stopped writing (restart it)"
        lost.withLock { if $0 == nil { $0 = reason } }
        return lost.withLock { $0 }
    }

    /// Stops writes for good, for `reason`.
    func stop(_ reason: String) {
        lost.withLock { if $0 == nil { $0 = reason } }
    }

    /// Runs `body` holding the in-process lock and the data file's `flock`, after checking the lock file.
    func holding<R>(_ body: () throws -> R) throws -> R {
        // `Mutex.withLock` cannot hand a non-sendable result out, so the result travels in an optional.
        var result: Result<R, any Error>?
        inProcess.withLock { _ in
            result = Result { try lockedBody(body) }
        }
        return try result!.get()
    }

    private func lockedBody<R>(_ body: () throws -> R) throws -> R {
        if let reason = check() { throw LMDBError(.lockFileLost, operation: reason) }
        while flock(descriptor, LOCK_EX) != 0 {
            if errno != EINTR { throw LMDBError(.init(rawValue: errno), operation: "flock(data file)") }
        }
        defer { _ = flock(descriptor, LOCK_UN) }
        // Checked again under the lock: another process may have replaced the file while we waited.
        if let reason = check() { throw LMDBError(.lockFileLost, operation: reason) }
        return try body()
    }
}
