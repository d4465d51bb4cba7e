"""Step 06 notebook: multi-head attention."""

from course.notebooks.build import Code, Experiment, Markdown, Notebook, Numeric, Question

NOTEBOOK = Notebook("step06", "Multi-head attention", [
    Markdown("""
        # Step 06: multi-head attention, heads are viewpoints

        One head computes one weighting of the past per position. Several heads, each with its own smaller
        query, key and value projections, can look for different things at once: one the previous character,
        another the start of the word, another a matching bracket. Their outputs are concatenated and mixed
        by the output projection W_O.

        The batched version does all heads in one go: split the channels into (n_head, head_size), move the
        head next to the batch dimension, run one attention call on (B, n_head, T, head_size), and merge back.
        It is the same computation as a loop over heads, only faster.
    """),
    Code("""
        import torch
        from course.lab import load, whose_code

        multi_head = load("step06.multi_head")
        print("running", whose_code())
        torch.set_printoptions(precision=3, sci_mode=False)
    """),
    Experiment("Change the number of heads from 4 to 1: output shape, parameters, attention maps.", """
        The output shape stays (B, T, C) and the parameter count does not change; what changes is how many
        attention maps there are and the size of each head.
    """, """
        x = torch.randn(2, 8, 32)
        for n_head in (4, 1):
            torch.manual_seed(0)
            layer = multi_head.MultiHeadAttention(32, n_head, 8)
            out = layer(x)
            parameters = sum(p.numel() for p in layer.parameters())
            print(f"{n_head} head{'s' if n_head > 1 else ''}: out {tuple(out.shape)}, {parameters:,} parameters, head size {layer.head_size}, "
                  f"attention maps {tuple(layer.last_attention.shape)}")
    """),
    Experiment("The loop and the batched version give the same output.", """
        `forward_loop` runs your step 05 attention once per head; `forward` does it in one call.
    """, """
        torch.manual_seed(0)
        layer = multi_head.MultiHeadAttention(32, 4, 8)
        print("same output:", torch.allclose(layer.forward_loop(x), layer(x), atol=1e-6))
    """),
    Experiment("Ask for 5 heads on 32 channels and read the error.", """
        The channels must split evenly into heads.
    """, """
        try:
            multi_head.MultiHeadAttention(32, 5, 8)
        except ValueError as error:
            print("ValueError:", error)
    """),
    Experiment("Train a one-layer attention model and look at what each head attends to.", """
        A model made of your step 03 embeddings, one `MultiHeadAttention` and the tied head, trained for a
        few seconds on the course's generated stories. Then each head's attention map on one sentence: rows
        are queries, columns the keys they look at (lower-triangular: the model is causal). Do the heads look
        at the same positions?
    """, """
        import matplotlib.pyplot as plt
        from course.data import tinystories

        embedding, positional = load("step03.embedding"), load("step03.positional")
        bigram, char_tokenizer = load("step00.bigram"), load("step01.char_tokenizer")

        class OneLayerAttentionLM(torch.nn.Module):
            def __init__(self, vocab_size, n_embd=32, n_head=4, block_size=32):
                super().__init__()
                self.token = embedding.Embedding(vocab_size, n_embd)
                self.position = positional.LearnedPositionalEmbedding(block_size, n_embd)
                self.attn = multi_head.MultiHeadAttention(n_embd, n_head, block_size)
                for table in (self.token.weight, self.position.weight):  # small: the first loss is near ln(V)
                    torch.nn.init.normal_(table, std=0.02)

            def forward(self, idx, targets=None):
                x = self.token(idx) + self.position(idx)  # (B, T, C)
                x = x + self.attn(x)  # positions exchange information
                logits = x @ self.token.weight.T  # (B, T, V): the head tied to the token table
                loss = None if targets is None else torch.nn.functional.cross_entropy(
                    logits.flatten(0, 1), targets.flatten())
                return logits, loss

        text = tinystories()[:50_000]
        tokenizer = char_tokenizer.CharTokenizer(text)
        torch.manual_seed(0)
        model = OneLayerAttentionLM(tokenizer.vocab_size)
        losses = bigram.train(model, torch.tensor(tokenizer.encode(text)), steps=300, batch_size=16, block_size=32, lr=1e-2)
        print(f"loss {losses[0]:.2f} -> {sum(losses[-10:]) / 10:.2f}")

        sentence = "Once upon a time, there was a"
        with torch.no_grad():
            model(torch.tensor([tokenizer.encode(sentence)]))
        maps = model.attn.last_attention[0]  # (n_head, T, T)
        figure, axes = plt.subplots(1, maps.shape[0], figsize=(4 * maps.shape[0], 4))
        for head, ax in enumerate(axes):
            ax.imshow(maps[head], cmap="viridis")
            ax.set_title(f"head {head}")
            ax.set_xticks(range(len(sentence)), list(sentence), fontsize=6)
            ax.set_yticks(range(len(sentence)), list(sentence), fontsize=6)
        plt.show()
    """),
    Question("step06-divisible", 1, """
        Why must `n_embd` be divisible by `n_head`?
    """, """
        The heads split the n_embd channels of q, k and v into n_head equal groups of head_size channels, and
        the concatenated outputs must give back n_embd channels for W_O and the residual pathway. With a
        remainder there would be channels that belong to no head, or heads of unequal size that cannot be
        stacked into one (B, n_head, T, head_size) tensor.
    """),
    Question("step06-heads", 2, """
        What does a head buy us conceptually? What can 4 heads do that 1 head of the same total size cannot?
    """, """
        Each head computes its own attention pattern, so at every position the layer can gather from several
        places at once, with different criteria: one head can follow the previous token while another finds
        the last matching name. One head of the same size has a single set of weights per position, so it
        must average everything it needs into one distribution. Heads are viewpoints in different subspaces,
        not extra layers or extra parameters.
    """),
    Question("step06-wo", 2, """
        Why is the output projection W_O needed? Could we not just concatenate the heads and stop there?
    """, """
        Concatenation leaves each head's result in its own block of channels, and nothing mixes them: a channel
        of the output would only ever come from one head. W_O combines the heads and writes their result into
        the directions of the residual pathway that later layers read. Without it the heads could not
        cooperate, and the layer's output would be tied to the head layout.
    """),
    Question("step06-reshape", 1, """
        Why must the reshape to (B, n_head, T, head_size) go through (B, T, n_head, head_size) and a transpose?
        What would a single `view` mix up?
    """, """
        In memory each position's channels are contiguous, with head h in columns h*hs:(h+1)*hs. A view to
        (B, T, n_head, hs) cuts exactly those columns; the transpose then moves the head axis forward. A
        direct view to (B, n_head, T, hs) would reinterpret the same memory as if heads were the outer axis,
        so a "head" would contain channels from different positions.
    """),
    Numeric("step06-parameters", 2, """
        How many parameters does one multi-head attention layer with n_embd = 64 have, with biases? (Does the
        number of heads matter?)
    """, "attention_parameters", """
        attention_parameters = 4 * 64 * 64 + 4 * 64  # query, key, value and W_O, each 64 x 64 plus a bias
    """, """
        assert isinstance(attention_parameters, int), "attention_parameters must be a whole number"
    """, """
        assert attention_parameters == 16_640, attention_parameters
    """),
    Numeric("step06-head-size", 1, """
        With n_embd = 768 and 12 heads (GPT-2 small), what is the head size?
    """, "head_size", """
        head_size = 768 // 12
    """, """
        assert isinstance(head_size, int), "head_size must be a whole number"
    """, """
        assert head_size == 64, head_size
    """),
    Markdown("""
        **What to take away.** Several small heads look at the sequence from different viewpoints for the price
        of one big one; the batched version is the same computation with the head as a batch dimension.
    """),
])
