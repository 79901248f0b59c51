import Foundation
import Testing
@testable import LinearAlgebra

@Suite struct ProcessMemoryTests {
    /// A malloc setting the user made is left alone, through either spelling glibc reads.
    @Test(arguments: [
        ["GLIBC_TUNABLES": "glibc.malloc.mmap_max=8"],
        ["GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX512F:glibc.malloc.trim_threshold=0"],
        ["MALLOC_MMAP_MAX_": "8"],
        ["MALLOC_TRIM_THRESHOLD_": "0"],
        ["MALLOC_ARENA_MAX": "4"],
    ])
    func leavesAMallocSettingTheUserMadeAlone(environment: [String: String]) {
        #expect(!ProcessMemory.keepLargeBlocksInTheHeap(environment: environment))
    }

    /// With the policy applied, a freed 40 MB block (above glibc's largest mmap threshold,
    /// 32 MB) is reused from the heap: allocating and writing it a second time takes (almost) no
    /// page faults, where a fresh mapping takes one per 4 KB page (10,240). Counted for this
    /// thread only (`RUSAGE_THREAD`), so other tests' allocations do not count. 40 MB, not
    /// more: this test thread may have had an arena of its own before the policy, and such an
    /// arena maps blocks above 64 MB afresh whatever the settings.
    @Test func aFreedLargeBlockIsReusedWithoutPageFaults() {
        #expect(ProcessMemory.keepLargeBlocksInTheHeap(environment: [:]))
        let count = 10 << 20  // floats: 40 MB
        func touch() -> Float {
            let values = [Float](repeating: 1, count: count)
            return values[count - 1]
        }
        _ = touch()
        let before = minorFaultsOfThisThread()
        #expect(touch() == 1)
        let faults = minorFaultsOfThisThread() - before
        #expect(faults < 1_000, "\(faults) page faults writing a reused 40 MB block")
    }

    private func minorFaultsOfThisThread() -> Int {
        var usage = rusage()
        getrusage(__rusage_who_t(1), &usage)  // RUSAGE_THREAD
        return usage.ru_minflt
    }
}
