// Module LinearAlgebra: see docs and DESIGN. Files are added by the issue that owns the module.
