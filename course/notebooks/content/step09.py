"""Step 09 notebook: training."""

from course.notebooks.build import Code, Experiment, Markdown, Notebook, Numeric, Question

NOTEBOOK = Notebook("step09", "Training", [
    Markdown("""
        # Step 09: training, optimisation is part of the model

        The same model learns well, learns slowly or blows up depending on how it is trained. This step's
        pieces are the ones that make a run trustworthy: a cross-entropy that stays finite for any logits,
        clipping of the global gradient norm, a learning rate that warms up and then decays along a cosine,
        AdamW with weight decay on the matrices only, an evaluation over the *whole* validation split, and
        checkpoints from which a run resumes exactly as if it had never stopped.

        The loss is in nats per token; exp(loss) is the perplexity (the model is as unsure as a uniform choice
        among that many tokens) and loss / ln 2 the bits per token.
    """),
    Code("""
        import torch
        from course.data import shakespeare
        from course.lab import char_corpus, load, whose_code

        trainer = load("step09.trainer")
        optimization = load("step09.optimization")
        gpt = load("step08.gpt")
        dataset = load("step02.dataset")
        print("running", whose_code())

        tokenizer, ids = char_corpus(shakespeare()[:60_000])
        train_ids, val_ids = dataset.train_val_split(ids, 0.1)

        def run(max_lr, grad_clip=1.0, steps=60):
            torch.manual_seed(0)
            model = gpt.GPT(gpt.GPTConfig(vocab_size=tokenizer.vocab_size, block_size=32, n_layer=2, n_head=4, n_embd=32))
            config = trainer.TrainConfig(steps=steps, batch_size=16, block_size=32, max_lr=max_lr, min_lr=max_lr / 10,
                                         warmup_steps=5, grad_clip=grad_clip, eval_interval=steps)
            return trainer.train(model, train_ids, val_ids, config)
    """),
    Experiment("Change the learning rate x10 and /10 and observe stability.", """
        The middle one, 3e-3, is a sensible rate for this small model. Which run learns fastest early on,
        which ends lowest, and what does the x10 run look like?
    """, """
        for max_lr in (3e-4, 3e-3, 3e-2):
            history = run(max_lr)
            losses = history["loss"]
            print(f"lr {max_lr:.0e}: loss {losses[0]:.2f} -> step 20 {losses[20]:.2f} -> step 59 {losses[-1]:.2f}, "
                  f"largest gradient norm {max(history['grad_norm']):.1f}, val {history['evals'][-1]['val_loss']:.2f}")
    """),
    Experiment("Push it to divergence: lr 3.0 (x1000) with and without clipping, then lr 100.", """
        At 3.0 the loss shoots far above ln(V) = 4.2 and the gradient norm grows tenfold. Clipping does not
        rescue it: Adam divides each step by the gradient's own size, so its steps are about as large as
        the learning rate whatever the norm. Clipping guards against a rare spike at a sane rate; it is no
        cure for a rate that is far too high. At 100 the loss becomes nan, and `TrainingDiverged` stops the
        run before the optimiser applies the bad step.
    """, """
        for max_lr, grad_clip in ((3.0, 0.0), (3.0, 1.0), (100.0, 1.0)):
            try:
                history = run(max_lr, grad_clip=grad_clip)
                print(f"lr {max_lr}, clip {grad_clip}: losses every 10 steps {[round(l, 1) for l in history['loss'][::10]]}, "
                      f"largest gradient norm {max(history['grad_norm']):.0f}")
            except trainer.TrainingDiverged as error:
                print(f"lr {max_lr}, clip {grad_clip}: TrainingDiverged: {error}")
    """),
    Experiment("Look at the learning-rate schedule.", """
        Warmup over the first steps, then a cosine down to min_lr at the last step.
    """, """
        rates = [optimization.lr_at(step, max_lr=1e-3, min_lr=1e-4, warmup_steps=10, total_steps=100) for step in range(100)]
        print([f"{rate:.1e}" for rate in rates[:12]], "...", f"{rates[-1]:.1e}")
    """),
    Markdown("""
        **Beyond the notebook: a real run.** The runs above are tiny so that the notebook stays fast. With
        steps 00-10 done, the `course` commands train *your* model for thousands of steps, save checkpoints,
        sample 500 characters and compare it with the bigram and MLP models (a few minutes on a laptop):

            course train --model transformer --data shakespeare --preset small --steps 5000
            course sample --checkpoint runs/transformer-shakespeare/checkpoint.pt --max-new-tokens 500 --temperature 1
            course compare --data shakespeare        # the MLP LM and the transformer, samples side by side
            course experiment lr                     # this experiment at full size, every curve on one plot
    """),
    Question("step09-divergence", 2, """
        What does divergence look like: in the loss curve, in the gradient norm, and in the samples? Why does a
        diverged run not recover on its own?
    """, """
        The loss stops falling and jumps up, often far above ln(V), sometimes to inf or nan; the gradient norm
        spikes by orders of magnitude just before. Samples turn into one repeated character or noise. Once a
        step has thrown the weights into a region of huge activations, the next gradients are huge too, and
        Adam's moment estimates are spoiled, so each step makes things worse; with nan, every later
        computation is nan.
    """),
    Question("step09-clipping", 2, """
        Why does clipping exist? Why clip one global norm rather than each tensor on its own?
    """, """
        Now and then a batch produces a gradient far larger than usual, and one full step along it can undo
        the training so far or start a divergence. Clipping rescales the gradient when its norm exceeds a
        limit, so no single step can be too large while normal steps are untouched. Clipping the global norm
        scales all tensors by the same factor, which keeps the direction of the gradient; clipping each tensor
        separately would change the direction and the balance between layers.
    """),
    Question("step09-overfitting", 2, """
        Which signals in the training and validation losses tell you that a model underfits, and which that it
        overfits?
    """, """
        Underfitting: both losses are high and close together and still falling, or flat because the model is
        too small or the learning rate wrong; more capacity or more steps would help. Overfitting: the training
        loss keeps falling while the validation loss stops falling and rises, so the gap grows; the model is
        memorising the training text, and more data, dropout, weight decay or an earlier stop would help.
    """),
    Question("step09-checkpoint", 1, """
        What must a checkpoint hold besides the weights so that a resumed run continues exactly?
    """, """
        The optimiser state (Adam's moments and step counts), the step number (for the schedule), the training
        config, and the state of the random generators (batches and dropout); for later use also the model
        config and the tokenizer. Without the generators the resumed run draws different batches, so its losses
        differ from the uninterrupted run.
    """),
    Question("step09-warmup", 1, """
        Adam divides each step by a running estimate of the gradient's size. Why is a warmup still useful?
    """, """
        At the start Adam's estimates come from very few gradients, and the second-moment estimate can be far
        too small for some parameters, so the first steps can be much larger than intended; the random model's
        gradients also point in directions that change quickly. A small rate at first lets the estimates settle
        and the model leave the random starting point before the full rate is used.
    """),
    Question("step09-whole-split", 1, """
        Why is the validation loss reported on the whole split and not on one random batch?
    """, """
        One batch is a small sample: its loss varies by several hundredths from batch to batch, as much as the
        differences between the runs you want to compare. The whole split, every token once, gives one exact
        number that is the same every time, so comparisons between runs and checkpoints mean something.
    """),
    Numeric("step09-first-lr", 1, """
        With warmup over 100 steps to max_lr = 1e-3, what learning rate does step 0 use (the warmup is
        (step + 1) / warmup_steps of the maximum)?
    """, "first_lr", """
        first_lr = 1e-3 * 1 / 100
    """, """
        assert isinstance(first_lr, float), "first_lr must be a float"
    """, """
        assert abs(first_lr - 1e-5) < 1e-12, first_lr
    """),
    Numeric("step09-perplexity", 1, """
        A character model reaches a validation loss of 1.60 nats per character. What is its perplexity?
    """, "perplexity", """
        import math
        perplexity = math.exp(1.60)
    """, """
        assert isinstance(perplexity, float), "perplexity must be a float"
    """, """
        assert abs(perplexity - 4.953) < 0.01, perplexity
    """),
    Numeric("step09-bits", 1, """
        And its loss in bits per character?
    """, "bits_per_character", """
        import math
        bits_per_character = 1.60 / math.log(2)
    """, """
        assert isinstance(bits_per_character, float), "bits_per_character must be a float"
    """, """
        assert abs(bits_per_character - 2.308) < 0.01, bits_per_character
    """),
    Markdown("""
        **What to take away.** Training is physics, not math: the same model learns or explodes depending on
        the step size, and a stable loss, clipping, a schedule, honest evaluation and checkpoints are what make
        a run something you can trust.
    """),
])
