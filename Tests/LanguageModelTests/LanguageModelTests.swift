// Tests for the LanguageModel module live in this folder.
