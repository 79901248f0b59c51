// Tests for the UserData module live in this folder.
