"""Step 08 notebook: the full GPT."""

from course.notebooks.build import Code, Experiment, Markdown, Notebook, Numeric, Question

NOTEBOOK = Notebook("step08", "The full GPT", [
    Markdown("""
        # Step 08: the full GPT, depth by stacking

        The whole model is what you have built, in order: token and position embeddings, n_layer identical
        blocks, a final norm, and the head (tied to the token table) that turns each position's vector into
        logits over the vocabulary. The loss is the cross-entropy of those logits against the shifted targets.

        Making the model bigger means changing numbers in the config: more layers, wider vectors, more heads.
        The computation stays the same block, repeated, which is why the same code describes a model of 100
        thousand parameters and one of 100 billion.
    """),
    Code("""
        import math
        import time
        import torch
        from course.data import shakespeare
        from course.lab import char_corpus, load, warm_up_optimizer, whose_code

        gpt = load("step08.gpt")
        bigram = load("step00.bigram")
        print("running", whose_code())

        tokenizer, ids = char_corpus(shakespeare()[:50_000])  # your step 01 CharTokenizer, and the ids (N,)
        V = tokenizer.vocab_size
        warm_up_optimizer()  # so that the timings below compare the models, not torch's first import of AdamW
    """),
    Experiment("Increase the number of layers from 2 to 4: compare runtime, parameters and loss.", """
        Same data, steps and seed. The loss at the start should be close to ln(V) for both.
    """, """
        for n_layer in (2, 4):
            torch.manual_seed(0)
            config = gpt.GPTConfig(vocab_size=V, block_size=32, n_layer=n_layer, n_head=4, n_embd=32)
            model = gpt.GPT(config)
            start = time.perf_counter()
            losses = bigram.train(model, ids, steps=60, batch_size=16, block_size=32, lr=3e-3)
            seconds = time.perf_counter() - start
            print(f"{n_layer} layers: {gpt.gpt_parameter_count(config):,} parameters, {1000 * seconds / 60:.0f} ms/step, "
                  f"loss {losses[0]:.2f} -> {sum(losses[-10:]) / 10:.2f}   (ln V = {math.log(V):.2f})")
    """),
    Experiment("Follow one batch through the model: the shape after every stage.", """
        The data flow of the whole course in one cell: ids, token vectors, plus positions, each block, the
        final norm, and the logits (the head is the token table, transposed).
    """, """
        torch.manual_seed(0)
        model = gpt.GPT(gpt.GPTConfig(vocab_size=V, block_size=32, n_layer=2, n_head=4, n_embd=32))
        idx = torch.tensor([tokenizer.encode("ROMEO: what"), tokenizer.encode("JULIET: who")])
        with torch.no_grad():
            print("ids                 ", tuple(idx.shape))  # (B, T)
            x = model.token_embedding(idx)
            print("token vectors       ", tuple(x.shape))  # (B, T, C)
            x = x + model.position_embedding(idx)
            print("+ position vectors  ", tuple(x.shape))
            for number, block in enumerate(model.blocks):
                x = block(x)
                print(f"after block {number}       ", tuple(x.shape), "attention maps", tuple(block.attn.last_attention.shape))
            x = model.ln_f(x)
            logits = x @ model.token_embedding.weight.T
            print("logits              ", tuple(logits.shape))  # (B, T, V)
            print("same as forward:    ", torch.allclose(logits, model(idx)[0], atol=1e-6))
    """),
    Experiment("The modification experiments: n_embd x2, n_layer x2, ReLU -> GELU, curves on one plot.", """
        The same data, steps and seed for each; only one thing changes at a time. Which change helps most
        for the same number of steps, and what does each cost in time?
    """, """
        import matplotlib.pyplot as plt

        variants = {"baseline (n_embd 32, 2 layers, GELU)": dict(),
                    "n_embd 64": dict(n_embd=64), "4 layers": dict(n_layer=4), "ReLU": dict(activation="relu")}
        figure, ax = plt.subplots(figsize=(7, 4))
        for name, change in variants.items():
            torch.manual_seed(0)
            sizes = dict(vocab_size=V, block_size=32, n_layer=2, n_head=4, n_embd=32)
            sizes.update({k: v for k, v in change.items() if k != "activation"})
            variant = gpt.GPT(gpt.GPTConfig(**sizes))
            for block in variant.blocks:
                block.mlp.activation = change.get("activation", "gelu")  # your step 07 MLP reads it at every call
            start = time.perf_counter()
            losses = bigram.train(variant, ids, steps=80, batch_size=16, block_size=32, lr=3e-3)
            print(f"{name:38s} {1000 * (time.perf_counter() - start) / 80:4.0f} ms/step, final loss {sum(losses[-10:]) / 10:.3f}")
            ax.plot(losses, label=name, alpha=0.8)
        ax.set_xlabel("step")
        ax.set_ylabel("training loss")
        ax.legend()
        plt.show()
    """),
    Experiment("Generate from the untrained GPT, the trained one, and the MLP model of step 04.", """
        The models here trained for a few dozen steps only, so the text is poor; `course compare` does the
        same with real training. Even so: which one starts to make words?
    """, """
        mlp_lm = load("step04.mlp_lm")
        prompt = torch.tensor([tokenizer.encode("ROMEO:")])
        torch.manual_seed(1)
        untrained = gpt.GPT(gpt.GPTConfig(vocab_size=V, block_size=32, n_layer=2, n_head=4, n_embd=32))
        mlp = mlp_lm.FeedForwardLM(V, 32, 2)
        bigram.train(mlp, ids, steps=80, batch_size=16, block_size=32, lr=3e-3)
        for name, m in (("untrained GPT", untrained), ("MLP, trained", mlp), ("GPT, trained", variant)):
            out = m.generate(prompt, max_new_tokens=60, generator=torch.Generator().manual_seed(0))
            print(f"--- {name}\\n{tokenizer.decode(out[0].tolist())}")
    """),
    Question("step08-depth", 2, """
        What changes with depth, and what stays the same?
    """, """
        Changes: the number of parameters and the time per step grow linearly with n_layer; the model can
        compose more steps of attention and MLP, so it can express more complex functions (for instance one
        layer finds a pattern, the next uses it); it may need more data and care to train. Stays the same:
        the block's code, the embedding and head sizes, the input and output shapes, the loss, and the
        context length: depth adds computation per token, not more tokens to look at.
    """),
    Question("step08-init-loss", 1, """
        Why is the loss at initialisation close to ln(vocab_size), and what does it tell you when it is not?
    """, """
        With small random weights the logits are all near 0, so the model predicts nearly uniform
        probabilities 1/V, and the cross-entropy of a uniform guess is ln(V). A much higher first loss means
        the initial logits are large (bad initialisation, a missing scaling or norm), confidently wrong. A loss
        that stays flat at ln(V) during training is the opposite warning: the model is not learning at all,
        often because of a broken softmax or attention scaling, a detached graph, or a learning rate of 0.
    """),
    Question("step08-families", 3, """
        Encoder-only (BERT), decoder-only (GPT, Llama) and encoder-decoder (T5) transformers: how do they
        differ, and what is each used for? What does a Mixture-of-Experts model change in the block?
    """, """
        An encoder-only model has no causal mask: every token sees the whole input, which suits understanding
        tasks (classification, embeddings) trained by filling in masked tokens, but it cannot generate text left
        to right. A decoder-only model, the one built here, is causal and trained to predict the next token, so
        it generates by repeating that. An encoder-decoder reads the input with an unmasked encoder and
        generates the output with a causal decoder that also attends to the encoder's outputs (cross-attention),
        natural for translation and other input-to-output tasks. A Mixture-of-Experts model replaces the one MLP
        of a block with many expert MLPs and a router that sends each token to a few of them, so the parameter
        count grows while the computation per token stays about the same.
    """),
    Question("step08-why-attention", 2, """
        The MLP model of step 04 and this GPT train on the same text. Why is the difference in their samples so
        dramatic?
    """, """
        The MLP predicts each character from the current character alone, so it can only reproduce
        one-step statistics: plausible letter pairs but no words. The GPT attends to the whole context of up
        to block_size characters, so it can continue the word it is in, keep track of a name or a speaker,
        and close what was opened; the samples show words and structure. The difference is context, not size.
    """),
    Question("step08-ln-f", 1, """
        Why does the model need the final norm `ln_f` when every block already normalises its inputs?
    """, """
        The blocks normalise only the inputs of their sub-layers; the residual pathway itself is never
        normalised, and after the last block it is the sum of the embeddings and every block's output, of any
        size. The head turns it into logits, whose scale sets how confident the model is, so `ln_f` gives the head
        an input of a standard size.
    """),
    Numeric("step08-gpt-parameters", 2, """
        How many parameters does `GPTConfig(vocab_size=65, block_size=32, n_layer=2, n_head=4, n_embd=64)` give
        (learned positions, biases everywhere, a final LayerNorm, the head tied to the token table)?
    """, "gpt_parameters", """
        C = 64
        block = (4 * C * C + 4 * C) + (8 * C * C + 5 * C) + 4 * C
        gpt_parameters = 65 * C + 32 * C + 2 * block + 2 * C
    """, """
        assert isinstance(gpt_parameters, int), "gpt_parameters must be a whole number"
    """, """
        assert gpt_parameters == 106_304, gpt_parameters
    """),
    Markdown("""
        **What to take away.** Transformers scale by repetition: a GPT is one block, repeated, and its size is a
        few numbers in a config.
    """),
])
