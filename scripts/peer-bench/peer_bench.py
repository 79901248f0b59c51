#!/usr/bin/env python3
"""Times one full-fine-tuning training step of a GPT-2-shaped model in PyTorch, Opacus,
torch.func and (if installed) JAX, for the shapes of `userdp bench dp-step`.

Every step includes the forward and backward passes, per-unit clipping (DP rows), Gaussian noise
on every coordinate (DP rows) and an Adam update, as userdp's step does. Data are random tokens,
as in userdp's benchmark. Prints a Markdown table: seconds per step (median over --iterations
after warm-up) and tokens per second.

Rows:
  pytorch nonprivate            plain autograd, mean loss, Adam
  opacus record                 Opacus GradSampleModule (hooks) + DPOptimizer, one unit per sequence
  opacus-ghost record           Opacus 1.6 ghost clipping (grad_sample_mode="ghost")
  torch.func record             vmap(grad) per sequence, clip, sum, noise, Adam
  torch.func user (U users x k) vmap(grad) per user of k sequences (loss: mean of its sequences)
  jax nonprivate / record / user  the same three in JAX with jit (if jax imports)

Usage (see README.md): python3 peer_bench.py --layers 6 --width 384 --heads 6 --vocab 8192 --batch 16
"""

import argparse
import os
import statistics
import sys
import time


def parse():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--vocab", type=int, default=512)
    p.add_argument("--context", type=int, default=128)
    p.add_argument("--batch", type=int, default=32, help="sequences per step")
    p.add_argument("--records-per-user", type=int, default=4)
    p.add_argument("--iterations", type=int, default=5)
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads (and JAX's, via XLA flags)")
    p.add_argument("--skip", default="", help="comma-separated rows to skip: pytorch,opacus,opacus-ghost,torchfunc,jax")
    return p.parse_args()


ARGS = parse()
SKIP = set(filter(None, ARGS.skip.split(",")))
# XLA reads its flags at import; keep JAX to the same thread count as torch.
os.environ.setdefault("XLA_FLAGS", f"--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={ARGS.threads}")

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.set_num_threads(ARGS.threads)
torch.set_num_interop_threads(1)

CLIP, SIGMA, LR = 1.0, 1.0, 3e-3


def median_time(step, iterations):
    step()  # warm-up (allocation, lazy initialisation, compilation)
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# ---------------------------------------------------------------- PyTorch model (userdp's GPT-2)

class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.ln_1 = nn.LayerNorm(d, eps=1e-5)
        self.c_attn = nn.Linear(d, 3 * d)
        self.attn_proj = nn.Linear(d, d)
        self.ln_2 = nn.LayerNorm(d, eps=1e-5)
        self.c_fc = nn.Linear(d, 4 * d)
        self.mlp_proj = nn.Linear(4 * d, d)

    def forward(self, x):
        b, t, d = x.shape
        hd = d // self.heads
        q, k, v = self.c_attn(self.ln_1(x)).split(d, dim=2)
        q, k, v = (z.reshape(b, t, self.heads, hd).transpose(1, 2) for z in (q, k, v))
        scores = (q @ k.transpose(-2, -1)) * (hd ** -0.5)
        mask = torch.ones(t, t, dtype=torch.bool, device=x.device).tril()
        attention = scores.masked_fill(~mask, float("-inf")).softmax(dim=-1) @ v
        x = x + self.attn_proj(attention.transpose(1, 2).reshape(b, t, d))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT(nn.Module):
    """Token and learned position embeddings, pre-LayerNorm blocks, final LayerNorm, LM head
    tied to the token embedding: the shape userdp trains."""

    def __init__(self, layers, d, heads, vocab, context):
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(context, d)
        self.blocks = nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d, eps=1e-5)
        self.head = nn.Linear(d, vocab, bias=False)
        self.head.weight = self.wte.weight
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)

    def forward(self, tokens):
        b, t = tokens.shape
        positions = torch.arange(t, device=tokens.device).unsqueeze(0).expand(b, t)
        x = self.wte(tokens) + self.wpe(positions)
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


def make_model():
    torch.manual_seed(1)
    return GPT(ARGS.layers, ARGS.width, ARGS.heads, ARGS.vocab, ARGS.context)


def make_data():
    g = torch.Generator().manual_seed(1)
    data = torch.randint(0, ARGS.vocab, (ARGS.batch, ARGS.context + 1), generator=g)
    return data[:, :-1].contiguous(), data[:, 1:].contiguous()


def token_loss(logits, targets):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def add_noise_and_step(model, optimizer, expected_units):
    for p in model.parameters():
        p.grad = (p.grad + torch.randn_like(p) * (SIGMA * CLIP)) / expected_units
    optimizer.step()


# ---------------------------------------------------------------- PyTorch rows

def pytorch_nonprivate(inputs, targets):
    model = make_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)

    def step():
        optimizer.zero_grad(set_to_none=True)
        token_loss(model(inputs), targets).backward()
        optimizer.step()

    return median_time(step, ARGS.iterations)


def opacus_record(inputs, targets, ghost=False):
    from opacus import GradSampleModule
    from opacus.optimizers import DPOptimizer

    model = make_model()
    batch = inputs.shape[0]
    if ghost:
        from opacus.grad_sample import GradSampleModuleFastGradientClipping
        from opacus.optimizers import DPOptimizerFastGradientClipping
        from opacus.utils.fast_gradient_clipping_utils import DPLossFastGradientClipping

        module = GradSampleModuleFastGradientClipping(model, max_grad_norm=CLIP, use_ghost_clipping=True)
        optimizer = DPOptimizerFastGradientClipping(
            torch.optim.Adam(module.parameters(), lr=LR), noise_multiplier=SIGMA, max_grad_norm=CLIP, expected_batch_size=batch)
        criterion = DPLossFastGradientClipping(module, optimizer, nn.CrossEntropyLoss(), loss_reduction="mean")

        def step():
            optimizer.zero_grad(set_to_none=True)
            logits = module(inputs)
            # shape=(B, T): per-sequence mean token losses, the unit's loss as userdp defines it;
            # backward() runs Opacus's two backward passes (norms, then the reweighted loss).
            loss = criterion(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), shape=logits.shape[:2])
            loss.backward()
            optimizer.step()

        return median_time(step, ARGS.iterations)

    module = GradSampleModule(model)
    optimizer = DPOptimizer(torch.optim.Adam(module.parameters(), lr=LR), noise_multiplier=SIGMA, max_grad_norm=CLIP, expected_batch_size=batch)

    def step():
        optimizer.zero_grad(set_to_none=True)
        token_loss(module(inputs), targets).backward()
        optimizer.step()

    return median_time(step, ARGS.iterations)


def torchfunc_units(inputs, targets, records_per_unit):
    """torch.func: per-unit gradients by vmap(grad), a unit being `records_per_unit` sequences
    (1 = record-level), its loss the mean of its sequences' mean token losses."""
    from torch.func import functional_call, grad, vmap

    model = make_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    names = [n for n, _ in model.named_parameters()]
    units = inputs.shape[0] // records_per_unit
    unit_inputs = inputs.reshape(units, records_per_unit, -1)
    unit_targets = targets.reshape(units, records_per_unit, -1)

    def unit_loss(params, x, y):
        return token_loss(functional_call(model, params, (x,)), y)

    per_unit_grad = vmap(grad(unit_loss), in_dims=(None, 0, 0))

    def step():
        params = {n: p.detach() for n, p in model.named_parameters()}
        grads = per_unit_grad(params, unit_inputs, unit_targets)
        norms = torch.sqrt(sum(g.reshape(units, -1).pow(2).sum(dim=1) for g in grads.values()))
        factors = (CLIP / (norms + 1e-12)).clamp(max=1.0)
        for n, p in model.named_parameters():
            g = grads[n]
            p.grad = torch.einsum("u,u...->...", factors, g)
        add_noise_and_step(model, optimizer, units)

    assert len(names) == len(dict(model.named_parameters()))
    return median_time(step, ARGS.iterations)


# ---------------------------------------------------------------- JAX rows

def jax_rows(inputs, targets):
    import jax
    import jax.numpy as jnp
    import numpy as np

    d, heads, vocab, context, layers = ARGS.width, ARGS.heads, ARGS.vocab, ARGS.context, ARGS.layers
    key = jax.random.PRNGKey(1)

    def normal(key, shape):
        return 0.02 * jax.random.normal(key, shape, dtype=jnp.float32)

    keys = iter(jax.random.split(key, 4 + 4 * layers))
    params = {"wte": normal(next(keys), (vocab, d)), "wpe": normal(next(keys), (context, d)),
              "ln_f": (jnp.ones(d), jnp.zeros(d)), "blocks": []}
    for _ in range(layers):
        params["blocks"].append({
            "ln_1": (jnp.ones(d), jnp.zeros(d)), "ln_2": (jnp.ones(d), jnp.zeros(d)),
            "c_attn": (normal(next(keys), (d, 3 * d)), jnp.zeros(3 * d)),
            "attn_proj": (normal(next(keys), (d, d)), jnp.zeros(d)),
            "c_fc": (normal(next(keys), (d, 4 * d)), jnp.zeros(4 * d)),
            "mlp_proj": (normal(next(keys), (4 * d, d)), jnp.zeros(d)),
        })

    def layer_norm(x, p):
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / jnp.sqrt(var + 1e-5) * p[0] + p[1]

    def forward(params, tokens):  # tokens: (T,) -> logits (T, V)
        t = tokens.shape[0]
        x = params["wte"][tokens] + params["wpe"][:t]
        mask = jnp.tril(jnp.ones((t, t), dtype=bool))
        hd = d // heads
        for b in params["blocks"]:
            qkv = layer_norm(x, b["ln_1"]) @ b["c_attn"][0] + b["c_attn"][1]
            q, k, v = (z.reshape(t, heads, hd).transpose(1, 0, 2) for z in jnp.split(qkv, 3, axis=-1))
            scores = jnp.where(mask, q @ k.transpose(0, 2, 1) * hd ** -0.5, -jnp.inf)
            attention = (jax.nn.softmax(scores, axis=-1) @ v).transpose(1, 0, 2).reshape(t, d)
            x = x + attention @ b["attn_proj"][0] + b["attn_proj"][1]
            h = jax.nn.gelu(layer_norm(x, b["ln_2"]) @ b["c_fc"][0] + b["c_fc"][1], approximate=True)
            x = x + h @ b["mlp_proj"][0] + b["mlp_proj"][1]
        return layer_norm(x, params["ln_f"]) @ params["wte"].T

    def sequence_loss(params, x, y):
        logits = forward(params, x)
        return -jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=-1).mean()

    def unit_loss(params, x, y):  # x, y: (k, T)
        return jax.vmap(sequence_loss, in_axes=(None, 0, 0))(params, x, y).mean()

    def adam(params, state, grads, lr=LR, b1=0.9, b2=0.999, eps=1e-8):
        step, m, v = state
        step = step + 1
        m = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, m, grads)
        v = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, v, grads)
        c1, c2 = 1 - b1 ** step, 1 - b2 ** step
        params = jax.tree_util.tree_map(lambda p, m, v: p - lr * (m / c1) / (jnp.sqrt(v / c2) + eps), params, m, v)
        return params, (step, m, v)

    def zeros_like(tree):
        return jax.tree_util.tree_map(jnp.zeros_like, tree)

    @jax.jit
    def nonprivate_step(params, state, x, y):
        grads = jax.grad(lambda p: unit_loss(p, x, y))(params)
        return adam(params, state, grads)

    def private_step_for(records_per_unit):
        @jax.jit
        def private_step(params, state, x, y, key):
            units = x.shape[0] // records_per_unit
            ux, uy = x.reshape(units, records_per_unit, -1), y.reshape(units, records_per_unit, -1)
            grads = jax.vmap(jax.grad(unit_loss), in_axes=(None, 0, 0))(params, ux, uy)
            leaves = jax.tree_util.tree_leaves(grads)
            norms = jnp.sqrt(sum((g.reshape(units, -1) ** 2).sum(1) for g in leaves))
            factors = jnp.minimum(1.0, CLIP / (norms + 1e-12))
            summed = jax.tree_util.tree_map(lambda g: jnp.tensordot(factors, g, axes=1), grads)
            flat, tree = jax.tree_util.tree_flatten(summed)
            noise_keys = jax.random.split(key, len(flat))
            noisy = [(g + SIGMA * CLIP * jax.random.normal(k, g.shape)) / units for g, k in zip(flat, noise_keys)]
            return adam(params, state, jax.tree_util.tree_unflatten(tree, noisy))
        return private_step

    x, y = jnp.asarray(np.asarray(inputs)), jnp.asarray(np.asarray(targets))
    rows = []
    state = (0, zeros_like(params), zeros_like(params))

    def timed(name, fn):
        nonlocal params, state
        def step():
            nonlocal params, state
            params, state = fn(params, state)
            jax.block_until_ready(params)
        rows.append((name, median_time(step, ARGS.iterations)))

    timed("jax nonprivate", lambda p, s: nonprivate_step(p, s, x, y))
    record = private_step_for(1)
    timed("jax record", lambda p, s: record(p, s, x, y, jax.random.PRNGKey(2)))
    k = ARGS.records_per_user
    user = private_step_for(k)
    timed(f"jax user ({ARGS.batch // k} users × {k})", lambda p, s: user(p, s, x, y, jax.random.PRNGKey(3)))
    return rows


# ---------------------------------------------------------------- main

def main():
    inputs, targets = make_data()
    tokens = ARGS.batch * ARGS.context
    print(f"model: {ARGS.layers} layers, width {ARGS.width}, {ARGS.heads} heads, context {ARGS.context}, vocabulary {ARGS.vocab}; "
          f"batch {ARGS.batch} × {ARGS.context} = {tokens} tokens; full fine-tuning, Adam")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads", end="")
    try:
        import opacus
        print(f", opacus {opacus.__version__}", end="")
    except ImportError:
        pass
    print()
    rows = []

    def run(name, fn):
        try:
            rows.append((name, fn()))
        except Exception as error:  # a peer that fails is reported, not fatal
            print(f"{name}: failed: {type(error).__name__}: {error}", file=sys.stderr)
        print(f"  {name}: done", file=sys.stderr, flush=True)

    k = ARGS.records_per_user
    if "pytorch" not in SKIP:
        run("pytorch nonprivate", lambda: pytorch_nonprivate(inputs, targets))
    if "opacus" not in SKIP:
        run("opacus record", lambda: opacus_record(inputs, targets))
    if "opacus-ghost" not in SKIP:
        run("opacus-ghost record", lambda: opacus_record(inputs, targets, ghost=True))
    if "torchfunc" not in SKIP:
        run("torch.func record", lambda: torchfunc_units(inputs, targets, 1))
        run(f"torch.func user ({ARGS.batch // k} users × {k})", lambda: torchfunc_units(inputs, targets, k))
    if "jax" not in SKIP:
        try:
            import jax
            print(f"jax {jax.__version__} ({jax.default_backend()})")
            rows.extend(jax_rows(inputs, targets))
        except ImportError:
            print("jax: not installed, skipped", file=sys.stderr)
        except Exception as error:
            print(f"jax: failed: {type(error).__name__}: {error}", file=sys.stderr)
    print("| peer step | step (s) | tokens/s |")
    print("| --- | ---: | ---: |")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.4f} | {tokens / seconds:.0f} |")


if __name__ == "__main__":
    main()
