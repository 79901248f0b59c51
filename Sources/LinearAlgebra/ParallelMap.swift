import Dispatch
import Foundation

/// Data parallelism over independent work items: the one way userdp uses several cores.
///
/// Every BLAS call runs on one OpenBLAS thread (see `BLAS`); `parallelMap` runs `body` for every
/// index on up to `workers` threads instead. On 2 cores a small model gains little from a
/// 2-thread `sgemm` (the elementwise layers stay on one thread), while two workers each running
/// single-threaded BLAS on half of the batch use both cores for everything
/// (docs/PERFORMANCE.md).
///
/// Contract:
/// - `body(index, worker)` is called exactly once for each index in `0..<count`; `worker` is in
///   `0..<min(workers, count)` and no two concurrent calls share a worker number, so a caller
///   may give each worker its own scratch state (for example one model replica per worker).
/// - Results come back in index order whatever the scheduling. A caller that reduces them in
///   that order gets bit-identical results for every worker count, as long as the work items
///   themselves do not depend on the worker count.
/// - With `workers <= 1` or `count <= 1` everything runs on the calling thread, in index order.
/// - If any call throws, the remaining indices may or may not run; the error of the lowest
///   failing index is rethrown.
public func parallelMap<T, Failure: Error>(
    _ count: Int, workers: Int, _ body: (_ index: Int, _ worker: Int) throws(Failure) -> T
) throws(Failure) -> [T] {
    precondition(count >= 0, "parallelMap needs a count >= 0, got \(count)")
    let threads = min(max(workers, 1), count)
    if threads <= 1 {
        var results: [T] = []
        results.reserveCapacity(count)
        for index in 0..<count { results.append(try body(index, 0)) }
        return results
    }

    let state = ParallelMapState<T, Failure>(count: count)
    withoutActuallyEscaping(body) { body in
        let shared = UncheckedSendable(body)
        DispatchQueue.concurrentPerform(iterations: threads) { worker in
            while let index = state.nextIndex() {
                let result: Result<T, Failure>
                do throws(Failure) { result = .success(try shared.value(index, worker)) } catch { result = .failure(error) }
                state.store(result, at: index)
            }
        }
    }
    return try state.results()
}

/// The number of workers to use by default: the process's thread budget (`BLAS.threadCount`:
/// `USERDP_BLAS_THREADS`, else `OPENBLAS_NUM_THREADS`, else one per core). A sweep's children
/// run with one thread each, so they get one worker.
public var defaultWorkerCount: Int { max(1, BLAS.threadCount) }

/// Work queue and result slots shared by the workers of one `parallelMap` call.
private final class ParallelMapState<T, Failure: Error>: @unchecked Sendable {
    private let lock = NSLock()
    private var next = 0
    private let count: Int
    private var slots: [Result<T, Failure>?]

    init(count: Int) {
        self.count = count
        slots = Array(repeating: nil, count: count)
    }

    func nextIndex() -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard next < count else { return nil }
        next += 1
        return next - 1
    }

    func store(_ result: Result<T, Failure>, at index: Int) {
        lock.lock()
        slots[index] = result
        lock.unlock()
    }

    func results() throws(Failure) -> [T] {
        var values: [T] = []
        values.reserveCapacity(count)
        for slot in slots {
            guard let slot else { preconditionFailure("parallelMap: a work item did not run") }
            values.append(try slot.get())
        }
        return values
    }
}

/// Carries a non-Sendable value into `concurrentPerform`; `parallelMap`'s contract (one call
/// per index, distinct worker numbers) is what makes the sharing safe.
private struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
