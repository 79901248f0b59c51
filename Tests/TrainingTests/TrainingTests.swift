// Tests for the Training module live in this folder.
