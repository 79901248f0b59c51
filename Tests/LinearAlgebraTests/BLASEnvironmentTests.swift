import Testing
@testable import LinearAlgebra

/// The pure kernel-selection rules: CPU flags → core type, and the user's settings respected.
@Suite struct BLASEnvironmentTests {
    static let zen4Flags: Set<String> = ["sse2", "avx", "avx2", "fma", "avx512f", "avx512dq", "avx512bw", "avx512vl", "avx512_bf16"]
    static let zen3Flags: Set<String> = ["sse2", "avx", "avx2", "fma"]
    let zen4 = CPUFeatures(vendor: "AuthenticAMD", flags: zen4Flags)

    @Test func recommendsSkylakeXWhenAllFourAVX512SubsetsArePresent() {
        #expect(KernelSelection.recommendedCore(for: zen4) == "SkylakeX")
        #expect(KernelSelection.recommendedCore(for: CPUFeatures(vendor: "GenuineIntel", flags: Self.zen4Flags)) == "SkylakeX")
        // AVX-512F alone (Knights Landing has no BW/VL) is not enough for the SkylakeX kernels.
        let partial = CPUFeatures(vendor: "GenuineIntel", flags: Self.zen3Flags.union(["avx512f", "avx512cd"]))
        #expect(KernelSelection.recommendedCore(for: partial) == "Haswell")
    }

    @Test func recommendsZenOrHaswellForAVX2() {
        #expect(KernelSelection.recommendedCore(for: CPUFeatures(vendor: "AuthenticAMD", flags: Self.zen3Flags)) == "Zen")
        #expect(KernelSelection.recommendedCore(for: CPUFeatures(vendor: "HygonGenuine", flags: Self.zen3Flags)) == "Zen")
        #expect(KernelSelection.recommendedCore(for: CPUFeatures(vendor: "GenuineIntel", flags: Self.zen3Flags)) == "Haswell")
        // AVX2 without FMA is not enough for the Haswell kernels.
        #expect(KernelSelection.recommendedCore(for: CPUFeatures(vendor: "GenuineIntel", flags: ["avx", "avx2"])) == nil)
        #expect(KernelSelection.recommendedCore(for: CPUFeatures(vendor: "", flags: [])) == nil)
    }

    @Test func reexecutesFromGenericKernelWhenNothingIsSet() {
        #expect(KernelSelection.decide(currentCore: "Prescott", features: zen4, environment: [:]) == .reexecute(coreType: "SkylakeX"))
        #expect(KernelSelection.decide(currentCore: "Haswell", features: zen4, environment: [:]) == .reexecute(coreType: "SkylakeX"))
        // An empty OPENBLAS_CORETYPE is ignored by OpenBLAS, so it counts as unset.
        #expect(KernelSelection.decide(currentCore: "Prescott", features: zen4, environment: ["OPENBLAS_CORETYPE": ""]) == .reexecute(coreType: "SkylakeX"))
        let zen3 = CPUFeatures(vendor: "AuthenticAMD", flags: Self.zen3Flags)
        #expect(KernelSelection.decide(currentCore: "Prescott", features: zen3, environment: [:]) == .reexecute(coreType: "Zen"))
    }

    @Test func keepsAKernelThatIsAlreadyAsWide() {
        for core in ["SkylakeX", "Cooperlake", "cooperlake", "SapphireRapids"] {
            guard case .keep = KernelSelection.decide(currentCore: core, features: zen4, environment: [:]) else {
                Issue.record("\(core) should be kept on an AVX-512 CPU")
                continue
            }
        }
        let zen3 = CPUFeatures(vendor: "AuthenticAMD", flags: Self.zen3Flags)
        guard case .keep = KernelSelection.decide(currentCore: "Zen", features: zen3, environment: [:]) else {
            Issue.record("Zen should be kept on an AVX2 CPU"); return
        }
    }

    @Test func neverOverridesTheUserOrLoops() {
        let userSet = KernelSelection.decide(currentCore: "Prescott", features: zen4, environment: ["OPENBLAS_CORETYPE": "Prescott"])
        #expect(userSet == .keep(reason: "OPENBLAS_CORETYPE=Prescott set by the user"))
        let afterReexec = KernelSelection.decide(currentCore: "Prescott", features: zen4, environment: ["USERDP_OPENBLAS_CORETYPE_CHOSEN": "rejected:SkylakeX"])
        guard case .keep = afterReexec else { Issue.record("must not re-execute twice: \(afterReexec)"); return }
        // Unknown core names (another architecture, a newer OpenBLAS) are left alone.
        guard case .keep = KernelSelection.decide(currentCore: "NEOVERSEN1", features: zen4, environment: [:]) else {
            Issue.record("unknown core must be kept"); return
        }
    }

    @Test func reportsWhoChose() {
        #expect(KernelSelection.coreSource(environment: [:]) == .openBLAS)
        #expect(KernelSelection.coreSource(environment: ["OPENBLAS_CORETYPE": "Haswell"]) == .user)
        #expect(KernelSelection.coreSource(environment: ["OPENBLAS_CORETYPE": "SkylakeX", "USERDP_OPENBLAS_CORETYPE_CHOSEN": "SkylakeX"]) == .userdp)
        // The user changed the value after userdp chose (a child process with a new setting).
        #expect(KernelSelection.coreSource(environment: ["OPENBLAS_CORETYPE": "Haswell", "USERDP_OPENBLAS_CORETYPE_CHOSEN": "SkylakeX"]) == .user)
        #expect(KernelSelection.threadSource(environment: [:]) == .openBLAS)
        #expect(KernelSelection.threadSource(environment: ["OPENBLAS_NUM_THREADS": "1"]) == .user)
        #expect(KernelSelection.threadSource(environment: ["USERDP_BLAS_THREADS": "2"]) == .user)
    }

    @Test func parsesThreadRequests() throws {
        #expect(try KernelSelection.requestedThreadCount(environment: [:]) == nil)
        #expect(try KernelSelection.requestedThreadCount(environment: ["USERDP_BLAS_THREADS": "3"]) == 3)
        for bad in ["0", "-1", "two", "1.5"] {
            #expect(throws: BLASEnvironmentError.invalidThreadCount(variable: "USERDP_BLAS_THREADS", value: bad)) {
                try KernelSelection.requestedThreadCount(environment: ["USERDP_BLAS_THREADS": bad])
            }
        }
    }

    @Test func parsesProcCpuinfo() {
        let text = """
            processor\t: 0
            vendor_id\t: AuthenticAMD
            cpu family\t: 25
            flags\t\t: fpu sse2 avx avx2 fma avx512f avx512dq avx512bw avx512vl

            processor\t: 1
            vendor_id\t: GenuineIntel
            flags\t\t: fpu

            """
        let features = CPUFeatures(cpuinfo: text)
        #expect(features.vendor == "AuthenticAMD")
        #expect(features.flags == ["fpu", "sse2", "avx", "avx2", "fma", "avx512f", "avx512dq", "avx512bw", "avx512vl"])
    }

    @Test func loadedLibraryAnswersAndComputesCorrectly() {
        #expect(!BLASEnvironment.coreName.isEmpty)
        #expect(BLASEnvironment.threadCount >= 1)
        // The benchmark's own correctness check: float32 products of 64 terms in [-0.5, 0.5).
        // On one thread: `measure` lifts OpenBLAS to the process's whole thread budget for its
        // body, and every test target shares this process, so a multi-threaded sgemm here would
        // change the summation order of a concurrent test's products (it broke pretraining's
        // reproducibility test once, under load, in a fresh-clone CI run).
        let measurement = GemmBenchmark.measure(size: 64, minimumSeconds: 0, threads: 1)
        #expect(measurement.maxRelativeError < 1e-5, "max relative error \(measurement.maxRelativeError)")
        #expect(measurement.repetitions >= 3)
    }
}
