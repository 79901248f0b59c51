import Foundation

/// How this process asks the C library for memory.
///
/// A training step allocates a gradient of P floats per micro-batch (55 MB at 6 layers and
/// width 384) and frees it once the micro-batches are combined. glibc serves every block above
/// its mmap threshold (at most 32 MB) with a fresh `mmap` and returns it with `munmap` on
/// `free`, so each such gradient faults in and zeroes every page again: about 3 % of a step's
/// time at that size went to the kernel's page faults (docs/PERFORMANCE.md). With mmap off and
/// trimming off, freed blocks stay in the heap and the next step reuses their pages. The cost
/// is that the process keeps its peak heap until it exits, which a training or benchmark
/// process does anyway. One arena serves every thread: a worker thread's own arena lives in
/// heaps of at most 64 MB and maps anything larger afresh whatever the settings, and the
/// workers allocate a few large blocks per step, so they gain nothing from arenas of their own.
public enum ProcessMemory {
    /// Turns glibc's mmap of large blocks and heap trimming off and keeps one arena
    /// (`mallopt` of `M_MMAP_MAX` 0, `M_TRIM_THRESHOLD` `Int32.max`, `M_ARENA_MAX` 1), unless
    /// the environment already sets any of them (`glibc.malloc.mmap_max`, `.trim_threshold` or
    /// `.arena_max` in `GLIBC_TUNABLES`, or `MALLOC_MMAP_MAX_`, `MALLOC_TRIM_THRESHOLD_` or
    /// `MALLOC_ARENA_MAX`): a value the user set is never overridden. Call it before other
    /// threads start: a thread that already has an arena keeps it. Does nothing where the C
    /// library has no `mallopt`. Returns whether the policy was applied.
    @discardableResult
    public static func keepLargeBlocksInTheHeap(environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        let tunables = environment["GLIBC_TUNABLES"] ?? ""
        let userSet = ["glibc.malloc.mmap_max", "glibc.malloc.trim_threshold", "glibc.malloc.arena_max"].contains { tunables.contains($0) }
            || ["MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_ARENA_MAX"].contains { environment[$0] != nil }
        guard !userSet, let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return false }
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
        let mmapMax: Int32 = -4, trimThreshold: Int32 = -1, arenaMax: Int32 = -8  // malloc.h's M_*
        return mallopt(arenaMax, 1) == 1 && mallopt(mmapMax, 0) == 1 && mallopt(trimThreshold, Int32.max) == 1
    }
}
