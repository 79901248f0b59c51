internal import COpenBLAS
import Foundation

// The Swift face of the BLAS calls userdp needs. Everything here is row-major float32. Views
// carry their own shape and leading dimension and are checked against the storage they point
// into before any C call, so a wrong offset or stride stops with a message instead of reading
// or writing past a buffer. C types (`blasint`, `CBLAS_ORDER`, raw pointers) stay in this file.

/// A read-only view of a row-major float32 matrix inside some storage.
///
/// Element (i, j) of the view is `buffer[offset + i * rowStride + j]` when not transposed. A
/// transposed view describes the same storage read as its transpose: its `rows` and `columns`
/// are swapped and `isTransposed` is set, which BLAS handles without copying.
///
/// The view does not own its storage: it is valid only while `buffer` is.
public struct MatrixView {
    /// The storage the view reads from.
    public let buffer: UnsafeBufferPointer<Float>
    /// Index in `buffer` of the stored element (0, 0).
    public let offset: Int
    /// Rows of the stored (untransposed) matrix.
    public let storedRows: Int
    /// Columns of the stored (untransposed) matrix.
    public let storedColumns: Int
    /// Distance in elements between the starts of consecutive stored rows (the leading
    /// dimension); at least `storedColumns`.
    public let rowStride: Int
    /// Whether the view reads the stored matrix transposed.
    public let isTransposed: Bool

    /// A view of `rows` × `columns` elements starting at `buffer[offset]`, consecutive rows
    /// `rowStride` elements apart (default: `columns`, a dense matrix).
    ///
    /// Precondition: the view lies inside `buffer` and `rowStride >= columns`.
    public init(_ buffer: UnsafeBufferPointer<Float>, offset: Int = 0, rows: Int, columns: Int, rowStride: Int? = nil) {
        let stride = rowStride ?? columns
        checkFits(count: buffer.count, offset: offset, rows: rows, columns: columns, rowStride: stride)
        self.buffer = buffer
        self.offset = offset
        self.storedRows = rows
        self.storedColumns = columns
        self.rowStride = stride
        self.isTransposed = false
    }

    private init(copying other: MatrixView, transposed: Bool) {
        buffer = other.buffer
        offset = other.offset
        storedRows = other.storedRows
        storedColumns = other.storedColumns
        rowStride = other.rowStride
        isTransposed = transposed
    }

    /// Rows of the matrix as the view reads it (after any transpose).
    public var rows: Int { isTransposed ? storedColumns : storedRows }
    /// Columns of the matrix as the view reads it (after any transpose).
    public var columns: Int { isTransposed ? storedRows : storedColumns }

    /// The same storage read as the transpose.
    public var transposed: MatrixView { MatrixView(copying: self, transposed: !isTransposed) }

    /// Element (i, j) as the view reads it; for tests and reference paths, not inner loops.
    public subscript(row: Int, column: Int) -> Float {
        precondition(row >= 0 && row < rows && column >= 0 && column < columns, "MatrixView index (\(row), \(column)) outside \(rows)×\(columns)")
        let (i, j) = isTransposed ? (column, row) : (row, column)
        return buffer[offset + i * rowStride + j]
    }
}

/// A writable view of a row-major float32 matrix inside some storage: the output of `gemm`.
///
/// Element (i, j) is `buffer[offset + i * rowStride + j]`. The view does not own its storage.
public struct MutableMatrixView {
    /// The storage the view writes to.
    public let buffer: UnsafeMutableBufferPointer<Float>
    /// Index in `buffer` of element (0, 0).
    public let offset: Int
    /// Number of rows.
    public let rows: Int
    /// Number of columns.
    public let columns: Int
    /// Distance in elements between the starts of consecutive rows; at least `columns`.
    public let rowStride: Int

    /// A view of `rows` × `columns` elements starting at `buffer[offset]`, consecutive rows
    /// `rowStride` elements apart (default: `columns`).
    ///
    /// Precondition: the view lies inside `buffer` and `rowStride >= columns`.
    public init(_ buffer: UnsafeMutableBufferPointer<Float>, offset: Int = 0, rows: Int, columns: Int, rowStride: Int? = nil) {
        let stride = rowStride ?? columns
        checkFits(count: buffer.count, offset: offset, rows: rows, columns: columns, rowStride: stride)
        self.buffer = buffer
        self.offset = offset
        self.rows = rows
        self.columns = columns
        self.rowStride = stride
    }

    /// The same elements as a read-only view (for example to feed one product's output into
    /// the next).
    public var readOnly: MatrixView {
        MatrixView(UnsafeBufferPointer(buffer), offset: offset, rows: rows, columns: columns, rowStride: rowStride)
    }
}

private func checkFits(count: Int, offset: Int, rows: Int, columns: Int, rowStride: Int) {
    precondition(rows >= 0 && columns >= 0, "matrix shape \(rows)×\(columns) is negative")
    precondition(rowStride >= max(columns, 1), "row stride \(rowStride) is smaller than the \(columns) columns")
    precondition(offset >= 0, "matrix offset \(offset) is negative")
    if rows > 0 && columns > 0 {
        let last = offset + (rows - 1) * rowStride + columns
        precondition(last <= count, "a \(rows)×\(columns) matrix at offset \(offset) with row stride \(rowStride) needs \(last) elements; the buffer has \(count)")
    }
}

/// Basic Linear Algebra Subprograms over OpenBLAS, float32, row-major.
///
/// All calls are synchronous, and **every call runs on one OpenBLAS thread**: the first use of
/// `BLAS` records the thread count OpenBLAS started with (from `OPENBLAS_NUM_THREADS`, or one
/// per core) as the process's thread budget (`threadCount`) and sets OpenBLAS itself to one
/// thread. Parallelism comes from running independent work items on `threadCount` worker
/// threads (`parallelMap`), each call single-threaded. Why: a multi-threaded sgemm splits its
/// work by the thread count, and on some kernels (Haswell, Zen) that changes the summation order
/// and so the last bits of the result; single-threaded calls give results that depend only on
/// the kernel and the inputs, whatever the worker count and whatever runs concurrently.
/// `withThreads(_:_:)` lifts the rule for one body, for benchmarks of raw sgemm only.
public enum BLAS {
    /// General matrix product `c ← alpha · a · b + beta · c` (BLAS `sgemm`).
    ///
    /// `a` is m × k and `b` is k × n as the views read them (use `.transposed` for `aᵀ`, `bᵀ`;
    /// no copy is made); `c` is m × n. With `beta == 0` the previous contents of `c` are
    /// ignored (even NaN). `c` must not overlap `a` or `b`.
    ///
    /// Precondition: the shapes agree and every dimension fits in 32 bits.
    public static func gemm(_ a: MatrixView, _ b: MatrixView, into c: MutableMatrixView, alpha: Float = 1, beta: Float = 0) {
        precondition(a.columns == b.rows, "gemm: a is \(a.rows)×\(a.columns) but b is \(b.rows)×\(b.columns)")
        precondition(c.rows == a.rows && c.columns == b.columns, "gemm: a·b is \(a.rows)×\(b.columns) but c is \(c.rows)×\(c.columns)")
        let m = a.rows, n = b.columns, k = a.columns
        if m == 0 || n == 0 { return }
        if k == 0 {
            // BLAS leaves c untouched for k == 0 only when beta == 1; be explicit.
            scaleMatrix(c, by: beta)
            return
        }
        ThreadBudget.shared.touch()
        cblas_sgemm(
            CblasRowMajor,
            a.isTransposed ? CblasTrans : CblasNoTrans,
            b.isTransposed ? CblasTrans : CblasNoTrans,
            blasInt(m), blasInt(n), blasInt(k),
            alpha,
            a.buffer.baseAddress! + a.offset, blasInt(a.rowStride),
            b.buffer.baseAddress! + b.offset, blasInt(b.rowStride),
            beta,
            c.buffer.baseAddress! + c.offset, blasInt(c.rowStride))
    }

    /// Symmetric rank-k update, lower triangle: `c ← alpha · a · aᵀ + beta · c` (BLAS `ssyrk`)
    /// on and below the diagonal of c; the strictly upper triangle is neither read nor written.
    ///
    /// `a` is n × k as the view reads it (`.transposed` for `aᵀ·a`); `c` is n × n. With
    /// `beta == 0` the previous contents of the lower triangle are ignored. Half the
    /// floating-point operations of the equivalent `gemm(a, a.transposed, …)`. `c` must not
    /// overlap `a`.
    ///
    /// Precondition: `c` is n × n and every dimension fits in 32 bits.
    public static func syrkLower(_ a: MatrixView, into c: MutableMatrixView, alpha: Float = 1, beta: Float = 0) {
        precondition(c.rows == a.rows && c.columns == a.rows, "syrk: a is \(a.rows)×\(a.columns) but c is \(c.rows)×\(c.columns)")
        let n = a.rows, k = a.columns
        if n == 0 { return }
        if k == 0 {
            for i in 0..<n {
                let row = c.offset + i * c.rowStride
                for j in 0...i { c.buffer[row + j] = beta == 0 ? 0 : beta * c.buffer[row + j] }
            }
            return
        }
        ThreadBudget.shared.touch()
        cblas_ssyrk(
            CblasRowMajor, CblasLower, a.isTransposed ? CblasTrans : CblasNoTrans,
            blasInt(n), blasInt(k), alpha,
            a.buffer.baseAddress! + a.offset, blasInt(a.rowStride),
            beta, c.buffer.baseAddress! + c.offset, blasInt(c.rowStride))
    }

    /// Matrix-vector product `y ← alpha · a · x + beta · y` (BLAS `sgemv`).
    ///
    /// `a` is m × n as the view reads it; `x` has n elements and `y` has m. With `beta == 0`
    /// the previous contents of `y` are ignored.
    public static func gemv(_ a: MatrixView, _ x: UnsafeBufferPointer<Float>, into y: UnsafeMutableBufferPointer<Float>, alpha: Float = 1, beta: Float = 0) {
        precondition(x.count == a.columns && y.count == a.rows, "gemv: a is \(a.rows)×\(a.columns), x has \(x.count), y has \(y.count)")
        if a.rows == 0 { return }
        if a.columns == 0 {
            for i in y.indices { y[i] = beta == 0 ? 0 : beta * y[i] }
            return
        }
        ThreadBudget.shared.touch()
        cblas_sgemv(
            CblasRowMajor, a.isTransposed ? CblasTrans : CblasNoTrans,
            blasInt(a.storedRows), blasInt(a.storedColumns), alpha,
            a.buffer.baseAddress! + a.offset, blasInt(a.rowStride),
            x.baseAddress!, 1, beta, y.baseAddress!, 1)
    }

    /// `y ← alpha · x + y` (BLAS `saxpy`). Precondition: equal lengths.
    public static func axpy(_ alpha: Float, _ x: UnsafeBufferPointer<Float>, _ y: UnsafeMutableBufferPointer<Float>) {
        precondition(x.count == y.count, "axpy: x has \(x.count) elements, y has \(y.count)")
        if x.isEmpty { return }
        ThreadBudget.shared.touch()
        cblas_saxpy(blasInt(x.count), alpha, x.baseAddress!, 1, y.baseAddress!, 1)
    }

    /// `y ← alpha · x + y` over arrays. Precondition: equal lengths.
    public static func axpy(_ alpha: Float, _ x: [Float], _ y: inout [Float]) {
        x.withUnsafeBufferPointer { xb in y.withUnsafeMutableBufferPointer { yb in axpy(alpha, xb, yb) } }
    }

    /// Dot product `Σ xᵢ yᵢ` (BLAS `sdot`, float32 accumulation). Precondition: equal lengths.
    public static func dot(_ x: UnsafeBufferPointer<Float>, _ y: UnsafeBufferPointer<Float>) -> Float {
        precondition(x.count == y.count, "dot: x has \(x.count) elements, y has \(y.count)")
        if x.isEmpty { return 0 }
        ThreadBudget.shared.touch()
        return cblas_sdot(blasInt(x.count), x.baseAddress!, 1, y.baseAddress!, 1)
    }

    /// Dot product over arrays. Precondition: equal lengths.
    public static func dot(_ x: [Float], _ y: [Float]) -> Float {
        x.withUnsafeBufferPointer { xb in y.withUnsafeBufferPointer { yb in dot(xb, yb) } }
    }

    /// Euclidean norm `‖x‖₂` (BLAS `snrm2`, which scales to avoid overflow and underflow).
    public static func norm2(_ x: UnsafeBufferPointer<Float>) -> Float {
        if x.isEmpty { return 0 }
        ThreadBudget.shared.touch()
        return cblas_snrm2(blasInt(x.count), x.baseAddress!, 1)
    }

    /// Euclidean norm of an array.
    public static func norm2(_ x: [Float]) -> Float {
        x.withUnsafeBufferPointer { norm2($0) }
    }

    /// `x ← alpha · x` (BLAS `sscal`).
    public static func scale(_ x: UnsafeMutableBufferPointer<Float>, by alpha: Float) {
        if x.isEmpty { return }
        ThreadBudget.shared.touch()
        cblas_sscal(blasInt(x.count), alpha, x.baseAddress!, 1)
    }

    /// `x ← alpha · x` over an array.
    public static func scale(_ x: inout [Float], by alpha: Float) {
        x.withUnsafeMutableBufferPointer { scale($0, by: alpha) }
    }

    /// The name of the OpenBLAS compute kernel chosen when the library loaded (for example
    /// `"SkylakeX"`, `"Haswell"` or `"Prescott"`), from `openblas_get_corename`.
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// The process's thread budget: how many worker threads userdp runs single-threaded BLAS
    /// calls on. Initially the count OpenBLAS started with; `setThreadCount` changes it.
    public static var threadCount: Int { ThreadBudget.shared.count }

    /// Sets the thread budget (`threadCount`) for work started later. OpenBLAS itself stays at
    /// one thread per call. Precondition: `count >= 1`.
    public static func setThreadCount(_ count: Int) {
        precondition(count >= 1, "BLAS thread count must be at least 1, got \(count)")
        ThreadBudget.shared.count = count
    }

    /// Threads OpenBLAS uses inside one call right now (`openblas_get_num_threads`): 1, except
    /// inside `withThreads`.
    public static var threadsPerCall: Int {
        ThreadBudget.shared.touch()
        return Int(openblas_get_num_threads())
    }

    /// Runs `body` with OpenBLAS using `threads` threads per call, then back to one. For
    /// benchmarks of a single large sgemm (`userdp bench gemm`): nothing else may call BLAS
    /// while it runs, and results computed inside may differ in the last bits from the
    /// single-threaded ones. Precondition: `threads >= 1`.
    public static func withThreads<R>(_ threads: Int, _ body: () throws -> R) rethrows -> R {
        precondition(threads >= 1, "BLAS thread count must be at least 1, got \(threads)")
        ThreadBudget.shared.touch()
        openblas_set_num_threads(blasInt(threads))
        defer { openblas_set_num_threads(1) }
        return try body()
    }

    private static func scaleMatrix(_ c: MutableMatrixView, by beta: Float) {
        for i in 0..<c.rows {
            let row = c.offset + i * c.rowStride
            for j in 0..<c.columns { c.buffer[row + j] = beta == 0 ? 0 : beta * c.buffer[row + j] }
        }
    }
}

/// The thread budget, and the one-time switch of OpenBLAS to one thread per call. `touch()` is
/// cheap after the first call (a `static let` is initialised once, thread-safely).
final class ThreadBudget: @unchecked Sendable {
    static let shared = ThreadBudget()

    private let lock = NSLock()
    private var value: Int

    private init() {
        value = max(1, Int(openblas_get_num_threads()))
        openblas_set_num_threads(1)
    }

    /// Makes sure OpenBLAS has been set to one thread per call.
    @inline(__always) func touch() {}

    var count: Int {
        get { lock.lock(); defer { lock.unlock() }; return value }
        set { lock.lock(); value = newValue; lock.unlock() }
    }
}

private func blasInt(_ value: Int) -> blasint {
    precondition(value >= 0 && value <= Int(Int32.max), "dimension \(value) does not fit the 32-bit BLAS interface")
    return blasint(value)
}
