// Tests for the Privacy module live in this folder.
