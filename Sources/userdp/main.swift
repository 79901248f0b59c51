import Foundation
import LinearAlgebra

// OpenBLAS fixes its kernel when the library loads, so kernel selection runs before anything
// else: it may replace this process with a fresh copy of itself (see BLASEnvironment).
do {
    try BLASEnvironment.prepareProcess()
} catch {
    // 64 (EX_USAGE): the environment asked for something impossible (a bad thread count).
    exitAfterFailure(error, status: 64)
}
// Large gradients are reused from the heap instead of mapped afresh every micro-batch.
ProcessMemory.keepLargeBlocksInTheHeap()
runUserDP()
