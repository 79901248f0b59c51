// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "userdp",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "userdp", targets: ["userdp"]),
        .library(name: "UserDP", targets: ["Randomness", "Persistence", "LinearAlgebra", "LanguageModel", "Privacy", "UserData", "Training", "Sweep"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", exact: "3.12.3"),
    ],
    targets: [
        // MARK: - C surfaces (one module each, used by exactly one Swift module)
        .systemLibrary(
            name: "COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        .systemLibrary(
            name: "CFFTW",
            pkgConfig: "fftw3",
            providers: [.apt(["libfftw3-dev"])]
        ),

        // MARK: - Library modules (public API)
        .target(name: "Randomness"),
        .target(name: "Persistence"),
        .target(name: "LinearAlgebra", dependencies: ["COpenBLAS"]),
        .target(name: "LanguageModel", dependencies: ["LinearAlgebra", "Randomness", "Persistence"]),
        .target(name: "Privacy", dependencies: ["CFFTW", "Persistence"]),
        .target(name: "UserData", dependencies: ["Randomness", "Persistence", .product(name: "Crypto", package: "swift-crypto")]),
        .target(
            name: "Training",
            dependencies: ["LinearAlgebra", "LanguageModel", "Privacy", "UserData", "Randomness", "Persistence",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            plugins: ["EmbedGitState"]
        ),
        .target(name: "Sweep", dependencies: ["Training", "LinearAlgebra", "Persistence", .product(name: "Crypto", package: "swift-crypto")]),

        // MARK: - Build-time provenance (the git state userdp was built from, embedded in Training)
        .executableTarget(name: "EmbedGitStateTool"),
        .plugin(name: "EmbedGitState", capability: .buildTool(), dependencies: ["EmbedGitStateTool"]),

        // MARK: - Command-line tool (thin: parses flags, loads files, prints)
        .executableTarget(
            name: "userdp",
            dependencies: [
                "Randomness", "Persistence", "LinearAlgebra", "LanguageModel", "Privacy", "UserData", "Training", "Sweep",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // MARK: - Test support (shared by the test targets; not part of any product)
        // Running the real `userdp` binary, temporary folders, the tiny model-and-dataset world,
        // seeded draws from Philox streams.
        .target(
            name: "TestSupport", dependencies: ["Randomness", "LanguageModel", "UserData", "Training"], path: "Tests/TestSupport"),

        // MARK: - Tests (one target per module)
        .testTarget(name: "RandomnessTests", dependencies: ["Randomness"]),
        .testTarget(name: "PersistenceTests", dependencies: ["Persistence"]),
        .testTarget(name: "LinearAlgebraTests", dependencies: ["LinearAlgebra"]),
        .testTarget(name: "LanguageModelTests", dependencies: ["LanguageModel", "LinearAlgebra", "Persistence", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "PrivacyTests", dependencies: ["Privacy", "TestSupport"]),
        .testTarget(name: "UserDataTests", dependencies: ["UserData", "Persistence", "Randomness", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(
            name: "TrainingTests", dependencies: ["Training", "LanguageModel", "LinearAlgebra", "Privacy", "UserData", "Persistence", "TestSupport"]),
        .testTarget(
            name: "SweepTests", dependencies: ["Sweep", "Training", "Persistence", "LanguageModel", "UserData", "Randomness", "TestSupport"],
            exclude: ["Snapshots"]),
        // Runs the built `userdp` binary on bad input, on seeded fuzzed files and on its vocabulary.
        .testTarget(name: "CommandLineTests", dependencies: ["Training", "LanguageModel", "Persistence", "UserData", "Randomness", "TestSupport"]),
    ]
)
