// Tests for the LinearAlgebra module live in this folder.
