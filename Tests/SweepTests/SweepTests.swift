// Tests for the Sweep module live in this folder.
