#!/usr/bin/env python3
"""Makes the fixture in hf-gpt2-tiny/ that HuggingFaceFixtureTests.swift checks userdp's GPT-2 against.

The oracle is Hugging Face's `GPT2LMHeadModel`, run in float64 on a tiny configuration with
seeded random weights. Every weight is drawn, rounded to float32 and only then given to the
float64 model, so the float32 checkpoint that userdp loads holds exactly the weights the
reference used: the differences the test measures are userdp's float32 arithmetic, nothing else.

Files written (all small; the directory is committed):
  config.json, model.safetensors  the model as `save_pretrained` writes it (float32, HF names
                                  with the `transformer.` prefix): userdp's checkpoint loader
                                  reads it unchanged
  reference.safetensors           float64 reference values, named as listed below
  fixture.json                    the batch, the units, the optimizer and LoRA settings, and
                                  the same quantities' float32-vs-float64 error in torch
                                  (normwise, max|a − e| / max|e| per tensor; after optimizer
                                  steps without the key biases, see `without_key_bias`)

Reference tensors (base names are userdp's tensor names, e.g. `h.0.attn.c_attn.weight`):
  logits                 B·T × V logits
  sequence_losses        B per-sequence losses
  loss                   [1] the batch loss
  grad/<name>            gradient of the batch loss
  unit<u>/grad/<name>    unit u's gradient: mean over its sequences of each sequence-loss gradient
  adamw/losses           batch loss before each AdamW step
  adamw/final/<name>     parameters after the AdamW steps
  lora/initial/<name>    the adapters (`h.{i}.<module>.lora_A` in × r, `lora_B` r × out)
  lora/logits, lora/sequence_losses, lora/loss, lora/grad/<name>, lora/unit<u>/grad/<name>
                         the same for the LoRA-adapted model (gradients of the adapters only)
  lora/adam/losses, lora/adam/final/<name>
                         Adam steps on the adapters (userdp's fine-tuning optimizer)

Losses follow userdp's definition (GPTModel.swift, TokenBatch.swift): a sequence's loss is
the mask-weighted mean next-token NLL over its positions, the batch loss the mean of the
sequences' losses. HF's built-in loss (a mean over all scored tokens) differs when sequences
are padded, so the script computes the loss from HF's logits.

Usage: python make_hf_gpt2_fixture.py [output directory]
Needs torch and transformers (pip install torch transformers), run outside the repository's
build. Re-running gives the same values on any machine up to float64 rounding of torch's kernels.
"""

import json
import math
import os
import sys

import torch
import transformers
from safetensors.torch import save_file
from transformers import GPT2Config, GPT2LMHeadModel

SEED = 20250614
VOCABULARY, CONTEXT, WIDTH, LAYERS, HEADS = 45, 10, 20, 2, 4  # width 20 and head width 5 exercise kernels' non-multiple-of-8 tails
SEQUENCES, LENGTH = 3, 8  # LENGTH < CONTEXT: wpe rows 8 and 9 get no gradient, only AdamW's decay
UNITS = [(0, 1), (1, 3)]  # half-open ranges of sequences
ADAMW = dict(lr=1e-2, beta1=0.9, beta2=0.95, epsilon=1e-8, weight_decay=0.1, steps=3)  # userdp's pretraining AdamW
ADAM = dict(lr=1e-2, beta1=0.9, beta2=0.999, epsilon=1e-8, weight_decay=0.0, steps=3)  # userdp's fine-tuning Adam
LORA_RANK, LORA_ALPHA = 2, 3.0
LORA_MODULES = ["attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"]  # all four of userdp's LoRATarget cases


def draw(generator, shape, std, mean=0.0):
    """Gaussian values, rounded to float32 and returned as float64 (exactly representable)."""
    values = torch.randn(shape, generator=generator, dtype=torch.float64) * std + mean
    return values.float().double()


def make_weights(model, generator):
    """Random values for every base tensor, by userdp name, at scales that keep softmaxes soft."""
    weights = {}
    for name, parameter in model.named_parameters():
        bare = name.removeprefix("transformer.")
        if ".ln_" in bare or bare.startswith("ln_f"):
            if bare.endswith(".weight"):
                weights[bare] = draw(generator, parameter.shape, 0.2, mean=1.0)
            else:
                weights[bare] = draw(generator, parameter.shape, 0.1)
        elif bare.endswith(".bias"):
            weights[bare] = draw(generator, parameter.shape, 0.1)
        else:
            weights[bare] = draw(generator, parameter.shape, 0.3)
    return weights


def make_batch(generator):
    """B sequences of T: one full, one padded after 5 positions (targets -1 there: never read),
    one with a hole in its mask."""
    tokens = torch.randint(0, VOCABULARY, (SEQUENCES, LENGTH), generator=generator)
    targets = torch.randint(0, VOCABULARY, (SEQUENCES, LENGTH), generator=generator)
    mask = torch.ones(SEQUENCES, LENGTH, dtype=torch.float64)
    mask[1, 5:] = 0
    targets[1, 5:] = -1
    mask[2, 3] = 0
    return tokens, targets, mask


def hf_config():
    config = GPT2Config(
        vocab_size=VOCABULARY, n_positions=CONTEXT, n_embd=WIDTH, n_layer=LAYERS, n_head=HEADS,
        activation_function="gelu_new", layer_norm_epsilon=1e-5, tie_word_embeddings=True,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=0, eos_token_id=0,
    )
    config._attn_implementation = "eager"  # the plain softmax(QKᵀ/√hd)·V path
    return config


def build_model(weights, dtype):
    model = GPT2LMHeadModel(hf_config()).to(dtype)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            parameter.copy_(weights[name.removeprefix("transformer.")])
    model.eval()  # no dropout (all rates are 0 anyway); gradients still flow
    return model


class LowRankAdapted(torch.nn.Module):
    """A frozen HF Conv1D plus the LoRA term: y = x·W + b + scale·(x·A)·B (Hu et al. 2021, eq. 3)."""

    def __init__(self, base, a, b, scale):
        super().__init__()
        self.base = base
        self.a = torch.nn.Parameter(a)
        self.b = torch.nn.Parameter(b)
        self.scale = scale

    def forward(self, x):
        return self.base(x) + self.scale * ((x @ self.a) @ self.b)


def make_adapters(generator):
    adapters = {}
    d = WIDTH
    widths = {"attn.c_attn": (d, 3 * d), "attn.c_proj": (d, d), "mlp.c_fc": (d, 4 * d), "mlp.c_proj": (4 * d, d)}
    for layer in range(LAYERS):
        for module in LORA_MODULES:
            inputs, outputs = widths[module]
            # B is not zero (unlike at initialisation) so that A's gradient is not zero either.
            adapters[f"h.{layer}.{module}.lora_A"] = draw(generator, (inputs, LORA_RANK), 0.3)
            adapters[f"h.{layer}.{module}.lora_B"] = draw(generator, (LORA_RANK, outputs), 0.3)
    return adapters


def adapt(model, adapters, dtype):
    """Freezes the base model and wraps every LoRA module; returns the adapter parameters by name."""
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    parameters = {}
    for layer, block in enumerate(model.transformer.h):
        for module in LORA_MODULES:
            owner_name, leaf = module.split(".")
            owner = getattr(block, owner_name)
            stem = f"h.{layer}.{module}"
            # Copies: the optimizer must not move the caller's initial adapters.
            a = adapters[stem + ".lora_A"].to(dtype, copy=True)
            b = adapters[stem + ".lora_B"].to(dtype, copy=True)
            wrapped = LowRankAdapted(getattr(owner, leaf), a, b, LORA_ALPHA / LORA_RANK)
            setattr(owner, leaf, wrapped)
            parameters[stem + ".lora_A"] = wrapped.a
            parameters[stem + ".lora_B"] = wrapped.b
    return parameters


def sequence_losses(model, tokens, targets, mask):
    """userdp's per-sequence loss from HF's logits; also returns the logits (B·T × V)."""
    logits = model(input_ids=tokens).logits  # B × T × V
    mask = mask.to(logits.dtype)
    log_probabilities = torch.log_softmax(logits, dim=-1)
    picked = log_probabilities.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    weights = mask.sum(dim=1)
    losses = -(picked * mask).sum(dim=1) / weights.clamp(min=1)  # a sequence without targets has loss 0
    return logits.reshape(-1, VOCABULARY), losses


def gradients(loss, parameters):
    values = torch.autograd.grad(loss, list(parameters.values()))
    return {name: value.detach() for name, value in zip(parameters, values)}


def run(parameters, model, batch, optimizer_settings, make_optimizer):
    """Forward, gradients (batch and per unit) and a few optimizer steps on the same batch."""
    tokens, targets, mask = batch
    out = {}
    logits, losses = sequence_losses(model, tokens, targets, mask)
    loss = losses.mean()
    out["logits"] = logits.detach()
    out["sequence_losses"] = losses.detach()
    out["loss"] = loss.detach().reshape(1)
    for name, value in gradients(loss, parameters).items():
        out["grad/" + name] = value
    for u, (start, end) in enumerate(UNITS):
        _, unit_losses = sequence_losses(model, tokens[start:end], targets[start:end], mask[start:end])
        for name, value in gradients(unit_losses.mean(), parameters).items():
            out[f"unit{u}/grad/{name}"] = value
    optimizer = make_optimizer(parameters)
    step_losses = []
    for _ in range(optimizer_settings["steps"]):
        optimizer.zero_grad()
        _, losses = sequence_losses(model, tokens, targets, mask)
        loss = losses.mean()
        step_losses.append(loss.detach())
        loss.backward()
        optimizer.step()
    return out, torch.stack(step_losses), {name: p.detach().clone() for name, p in parameters.items()}


def adamw(parameters):
    """userdp's AdamW: decoupled decay on tensors of rank >= 2 only (AdamW.decayMask)."""
    s = ADAMW
    decayed = [p for p in parameters.values() if p.dim() >= 2]
    plain = [p for p in parameters.values() if p.dim() < 2]
    return torch.optim.AdamW(
        [{"params": decayed, "weight_decay": s["weight_decay"]}, {"params": plain, "weight_decay": 0.0}],
        lr=s["lr"], betas=(s["beta1"], s["beta2"]), eps=s["epsilon"], foreach=False)


def adam(parameters):
    s = ADAM
    return torch.optim.Adam(list(parameters.values()), lr=s["lr"], betas=(s["beta1"], s["beta2"]), eps=s["epsilon"], weight_decay=0.0, foreach=False)


def full_run(weights, batch, dtype):
    model = build_model(weights, dtype)
    parameters = {name.removeprefix("transformer."): p for name, p in model.named_parameters()}
    out, step_losses, final = run(parameters, model, batch, ADAMW, adamw)
    out["adamw/losses"] = step_losses
    for name, value in final.items():
        out["adamw/final/" + name] = value
    return out


def lora_run(weights, adapters, batch, dtype):
    model = build_model(weights, dtype)
    parameters = adapt(model, adapters, dtype)
    out, step_losses, final = run(parameters, model, batch, ADAM, adam)
    out = {"lora/" + key: value for key, value in out.items()}
    out["lora/adam/losses"] = step_losses
    for name, value in final.items():
        out["lora/adam/final/" + name] = value
    return out


def without_key_bias(name, value):
    """The tensor without the key part of `attn.c_attn.bias`, whose gradient is zero in exact
    arithmetic (q·b_k shifts a whole row of attention scores, and softmax ignores a shift):
    Adam divides that coordinate's rounding noise by its own size and moves it by about ±lr
    a step, in float64 as in float32, so no two implementations agree on it after a step."""
    if not name.endswith("attn.c_attn.bias"):
        return value
    return torch.cat([value[:WIDTH], value[2 * WIDTH:]])


def normwise_error(approximate, exact):
    """max|a − e| / max|e|: the float32 error of torch's own float32 run, for comparison."""
    scale = exact.abs().max().item()
    difference = (approximate.double() - exact).abs().max().item()
    return difference / scale if scale > 0 else difference


def main():
    output = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "hf-gpt2-tiny")
    os.makedirs(output, exist_ok=True)
    torch.use_deterministic_algorithms(True)
    generator = torch.Generator().manual_seed(SEED)
    probe = GPT2LMHeadModel(hf_config())
    weights = make_weights(probe, generator)
    tokens, targets, mask = make_batch(generator)
    adapters = make_adapters(generator)
    batch = (tokens, targets, mask)

    reference = full_run(weights, batch, torch.float64)
    reference.update(lora_run(weights, adapters, batch, torch.float64))
    for name, value in adapters.items():
        reference["lora/initial/" + name] = value

    # The same computations in float32 (torch's kernels): how far an honest float32
    # implementation lands from the float64 reference, recorded beside userdp's tolerances.
    single = full_run(weights, batch, torch.float32)
    single.update(lora_run(weights, adapters, batch, torch.float32))
    groups = {}
    for key, value in single.items():
        group = key.rsplit("/", 1)[0] if ("grad/" in key or "final/" in key) else key
        exact = reference[key]
        if "final/" in key:
            value, exact = without_key_bias(key, value), without_key_bias(key, exact)
        groups[group] = max(groups.get(group, 0.0), normwise_error(value, exact))

    # The checkpoint exactly as Hugging Face writes it, in float32 (a fresh model: the runs
    # above have stepped theirs).
    build_model(weights, torch.float32).save_pretrained(output, safe_serialization=True)
    for extra in ("generation_config.json",):
        path = os.path.join(output, extra)
        if os.path.exists(path):
            os.remove(path)
    save_file({key: value.contiguous() for key, value in sorted(reference.items())}, os.path.join(output, "reference.safetensors"),
              metadata={"format": "pt"})  # one key: safetensors writes several in no fixed order

    description = {
        "version": 1,
        "generator": "Tests/LanguageModelTests/Fixtures/make_hf_gpt2_fixture.py",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "seed": SEED,
        "batch": {
            "sequences": SEQUENCES, "length": LENGTH,
            "tokens": tokens.flatten().tolist(), "targets": targets.flatten().tolist(), "mask": mask.flatten().tolist(),
        },
        "units": [[start, end] for start, end in UNITS],
        "adamw": ADAMW,
        "lora": {"rank": LORA_RANK, "alpha": LORA_ALPHA, "modules": LORA_MODULES, "adam": ADAM},
        "torch_float32_normwise_error": {key: float(f"{value:.3g}") for key, value in sorted(groups.items())},
    }
    with open(os.path.join(output, "fixture.json"), "w") as file:
        json.dump(description, file, indent=1, sort_keys=True)
        file.write("\n")
    print(f"loss {reference['loss'].item():.6f} (ln V = {math.log(VOCABULARY):.6f}), lora loss {reference['lora/loss'].item():.6f}")
    print("adamw losses", reference["adamw/losses"].tolist(), "lora adam losses", reference["lora/adam/losses"].tolist())
    for key, value in sorted(groups.items()):
        print(f"torch float32 vs float64, {key}: {value:.3g}")


if __name__ == "__main__":
    main()
