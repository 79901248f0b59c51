// Module LanguageModel: GPT-2 in float32 with hand-written gradients, LoRA, BPE, checkpoints
// (docs/ARCHITECTURE.md, docs/TRAINING.md, docs/BASE_MODEL.md).
