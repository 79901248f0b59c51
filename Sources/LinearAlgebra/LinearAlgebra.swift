// Module LinearAlgebra: the only user of OpenBLAS, the thread budget and `parallelMap`
// (docs/ARCHITECTURE.md, docs/PERFORMANCE.md).
