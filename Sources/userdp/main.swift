import Foundation
import LinearAlgebra

// OpenBLAS fixes its kernel when the library loads, so kernel selection runs before anything
// else: it may replace this process with a fresh copy of itself (see BLASEnvironment).
do {
    try BLASEnvironment.prepareProcess()
} catch {
    FileHandle.standardError.write(Data("userdp: error: \(error.localizedDescription)\n".utf8))
    exit(64)
}
runUserDP()
