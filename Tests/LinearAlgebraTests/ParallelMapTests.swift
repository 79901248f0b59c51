import Foundation
@testable import LinearAlgebra
import Testing

private struct ItemFailed: Error, Equatable { let index: Int }

/// Tracks which workers are inside `body` at the same time.
private final class WorkerLedger: @unchecked Sendable {
    private let lock = NSLock()
    private var active: Set<Int> = []
    private(set) var overlaps = 0
    private(set) var calls: [Int] = []
    private(set) var clashes = 0

    func enter(worker: Int, index: Int) {
        lock.lock()
        if active.contains(worker) { clashes += 1 }
        if !active.isEmpty { overlaps += 1 }
        active.insert(worker)
        calls.append(index)
        lock.unlock()
    }

    func leave(worker: Int) {
        lock.lock()
        active.remove(worker)
        lock.unlock()
    }
}

@Suite("parallelMap", .serialized)
struct ParallelMapTests {
    @Test("every index runs once, results come back in index order, workers never share", arguments: [1, 2, 3, 8])
    func indexOrderAndExclusiveWorkers(workers: Int) {
        let ledger = WorkerLedger()
        let results = parallelMap(40, workers: workers) { index, worker -> Int in
            ledger.enter(worker: worker, index: index)
            #expect(worker >= 0 && worker < min(workers, 40))
            // Uneven work so that the dynamic schedule interleaves.
            var x = 0.0
            for i in 0..<((index % 5) * 20_000) { x += Double(i).squareRoot() }
            ledger.leave(worker: worker)
            return index * 10 + (x < 0 ? 1 : 0)
        }
        #expect(results == (0..<40).map { $0 * 10 })
        #expect(ledger.calls.sorted() == Array(0..<40))
        #expect(ledger.clashes == 0, "a worker number was used by two concurrent calls")
    }

    @Test("OpenBLAS runs every call on one thread, inside and outside parallelMap")
    func blasCallsAreSingleThreaded() {
        #expect(BLAS.threadsPerCall == 1)
        #expect(parallelMap(4, workers: 2) { _, _ in BLAS.threadsPerCall } == [1, 1, 1, 1])
        #expect(parallelMap(1, workers: 1) { _, _ in BLAS.threadsPerCall } == [1])
        #expect(BLAS.threadCount >= 1, "the thread budget is at least one worker")
    }

    @Test("matrix products on several workers equal the same products on one")
    func concurrentGemmMatchesSerial() {
        let n = 96
        let inputs = (0..<6).map { seed in (0..<(n * n)).map { Float(sin(Double($0 * (seed + 1)) * 0.37)) } }
        func products(workers: Int) -> [[Float]] {
            parallelMap(inputs.count, workers: workers) { index, _ in
                var c = [Float](repeating: 0, count: n * n)
                let a = inputs[index], b = inputs[(index + 1) % inputs.count]
                a.withUnsafeBufferPointer { a in
                    b.withUnsafeBufferPointer { b in
                        c.withUnsafeMutableBufferPointer { c in
                            BLAS.gemm(
                                MatrixView(a, rows: n, columns: n), MatrixView(b, rows: n, columns: n),
                                into: MutableMatrixView(c, rows: n, columns: n))
                        }
                    }
                }
                return c
            }
        }
        #expect(products(workers: 2) == products(workers: 1))
    }

    @Test("the error of the lowest failing index is rethrown", arguments: [1, 2])
    func lowestFailingIndexWins(workers: Int) {
        #expect(throws: ItemFailed(index: 3)) {
            _ = try parallelMap(10, workers: workers) { (index, _) throws(ItemFailed) -> Int in
                if index == 3 || index == 7 { throw ItemFailed(index: index) }
                return index
            }
        }
    }

    @Test("no items and one item")
    func edgeCounts() {
        #expect(parallelMap(0, workers: 4) { index, _ in index }.isEmpty)
        #expect(parallelMap(1, workers: 4) { index, worker in index + worker } == [0])
    }
}
