"""Step 07 notebook: the pre-norm transformer block."""

from course.notebooks.build import Code, Experiment, Markdown, Notebook, Numeric, Question

NOTEBOOK = Notebook("step07", "The transformer block", [
    Markdown("""
        # Step 07: the transformer block, residual pathways and normalisation

        A block is attention (positions exchange information) followed by an MLP (each position thinks on its
        own), and each of the two is *added* to a residual pathway instead of replacing it:

            x = x + attn(ln_1(x))
            x = x + mlp(ln_2(x))

        The pathway runs untouched from the embeddings to the output, so every block only writes a correction
        onto it, and the gradient reaches the first block directly through the `+`. The norms (LayerNorm, or
        RMSNorm in newer models) sit *before* each sub-layer: they hand it an input of a standard size and
        leave the pathway itself alone. That is the pre-norm arrangement of GPT-2 and its successors.
    """),
    Code("""
        import torch
        from course.lab import load, whose_code

        block = load("step07.block")
        print("running", whose_code())
    """),
    Experiment("Remove the residual connection once: forward and backward through 16 blocks.", """
        Same seed, so the same weights, with and without `residual=True`. Compare how much of the input
        survives (the cosine between input and output) and the gradient that reaches the first block.
    """, """
        def run(residual, depth=16):
            torch.manual_seed(0)
            blocks = [block.Block(32, 4, 16, residual=residual) for _ in range(depth)]
            x = torch.randn(2, 16, 32)
            out = x
            for b in blocks:
                out = b(out)
            loss = ((out - torch.randn_like(out)) ** 2).mean()
            loss.backward()
            cosine = torch.nn.functional.cosine_similarity(out.flatten(), x.flatten(), dim=0).item()
            return cosine, blocks[0].attn.query.weight.grad.norm().item()

        for residual in (True, False):
            cosine, gradient = run(residual)
            print(f"residual={residual!s:5}  cos(input, output) {cosine:+.3f}  first-block gradient {gradient:.2e}")
    """),
    Experiment("Pre-norm against post-norm: feed an input 100 times too large.", """
        In pre-norm the pathway keeps the input's size and the sub-layers see normalised inputs; in post-norm
        the norm is applied to the pathway itself and the size is gone after the first block.
    """, """
        torch.manual_seed(0)
        b = block.Block(32, 4, 16)
        x = 100 * torch.randn(2, 16, 32)
        with torch.no_grad():
            pre = b(x)
            post = b.ln_1(x + b.attn(x))
            post = b.ln_2(post + b.mlp(post))
        print(f"input std {x.std():.1f}   pre-norm output std {pre.std():.1f}   post-norm output std {post.std():.2f}")
    """),
    Experiment("LayerNorm against RMSNorm on inputs with a mean of 5.", """
        LayerNorm removes the mean and divides by the standard deviation; RMSNorm only divides by the
        root mean square.
    """, """
        x = torch.randn(3, 8) + 5
        with torch.no_grad():
            print("LayerNorm: mean per row", block.LayerNorm(8)(x).mean(-1))
            print("RMSNorm:   mean per row", block.RMSNorm(8)(x).mean(-1))
    """),
    Question("step07-breaks", 2, """
        What breaks when the residual connection is removed? Use the numbers of experiment 1.
    """, """
        Two things. Forward: each block replaces x with a new function of it, so after 16 blocks the output
        has nearly nothing left of the input (cosine near 0 instead of about 0.6); the token and position
        information is scrambled. Backward: the gradient must pass through every block's Jacobian in turn, and
        it shrinks at each one, so the first block gets a gradient thousands of times smaller and barely
        learns. With `x + f(x)` the derivative contains the identity, so the gradient reaches every block
        directly and each block only needs to learn a correction.
    """),
    Question("step07-prenorm", 2, """
        Why is LayerNorm placed before attention (and the MLP) and not on the pathway after the addition?
    """, """
        Placed before, the norm only prepares each sub-layer's input: attention and the MLP always see inputs
        of a standard size, while the pathway stays an untouched sum, so the identity route for the gradient
        and the information from the embeddings are kept from the first block to the last. Post-norm
        normalises the pathway itself after each addition, so the gradient passes through every norm on the
        way down, which makes deep stacks hard to train without careful warmup.
    """),
    Question("step07-eps", 1, """
        Why does LayerNorm divide by n and not by n - 1, and why does eps go inside the square root?
    """, """
        LayerNorm normalises the n values it has; it does not estimate the variance of a larger population,
        so the plain mean over n is the definition (and what PyTorch does). eps inside the root,
        sqrt(var + eps), bounds the divisor away from 0 smoothly; outside it would leave sqrt(var) with an
        infinite derivative at var = 0 and change the result noticeably when the variance is small.
    """),
    Question("step07-rmsnorm", 1, """
        What does RMSNorm leave out compared with LayerNorm, and why can a model do without it?
    """, """
        It does not subtract the mean (and has no bias): it only divides by the root mean square. The model can
        keep the mean of its vectors small by itself, or not depend on it, and what matters for stable training
        is fixing the scale; dropping the mean saves computation with no loss in quality, which is why Llama and
        most recent models use it.
    """),
    Question("step07-halves", 1, """
        Attention mixes positions and the MLP does not. What could a stack of blocks learn with only attention,
        and with only the MLP?
    """, """
        With only the MLP, nothing mixes positions: it is the step 04 model, limited to one token of context.
        With only attention, each layer can only take weighted averages of value vectors, linear maps of what is
        there, with little nonlinear processing per position (only the softmax weights are nonlinear); it can
        move information but hardly transform it. The block needs both: attention to gather, the MLP to compute
        with what was gathered.
    """),
    Numeric("step07-block-parameters", 2, """
        How many parameters does one block with n_embd = 64 hold (attention and MLP with biases, two
        LayerNorms with weight and bias, the MLP 4 times wider inside)?
    """, "block_parameters", """
        C = 64
        block_parameters = (4 * C * C + 4 * C) + (C * 4 * C + 4 * C + 4 * C * C + C) + 2 * (2 * C)
    """, """
        assert isinstance(block_parameters, int), "block_parameters must be a whole number"
    """, """
        assert block_parameters == 49_984, block_parameters
    """),
    Markdown("""
        **What to take away.** Residuals are not optional glue: they are the pathway that keeps a deep stack
        trainable, and the pre-norm arrangement keeps that pathway clean.
    """),
])
