"""The tiny synthetic experiment files the experiment tests run."""

TINY = """
[experiment]
name = "tiny"
paper = "ASAC Table 4 (tiny)"
layout = "asac"
seeds = [0, 1]
description = "synthetic faces, tiny CNN"

[train]
dataset = "synthetic"
dataset_options = { n_train = 192, n_val = 64, n_test = 96 }
arch = "tiny"
size = 32
batch_size = 32
progress = false

[scale.cpu]
epochs = 2

[scale.gpu]
epochs = 20

[[run]]
id = "base"
label = "Base"

[[run]]
id = "asac"
label = "ASAC"
from = "base"
method = "asac"
options = { probe_epochs = 2 }
cpu = { epochs = 1 }

[[run]]
id = "di"
label = "Domain-independent"
method = "domain_independent"
evaluate = [{ inference = "conditional" }]
"""

# A regulariser sweep and the row that picks its weight per seed on validation.
SWEEP = TINY.split("[[run]]")[0] + """
[[run]]
id = "base"
label = "Base"

[[run]]
id = "w1"
label = "Regularized (weight 1)"
method = "regularized"
options = { weight = 1.0 }

[[run]]
id = "w0"
label = "Regularized (weight 0.1)"
method = "regularized"
options = { weight = 0.1 }

[[run]]
id = "reg"
label = "Regularized (chosen)"
choose = { among = ["w1", "w0"], metric = "equal_opportunity_diff", reference = "base", accuracy_within = 1.0 }
"""

# The generative rows: a generator trained once for the experiment, named "@generator", and a
# labeller named by its run id.
GENERATIVE = TINY.split("[[run]]")[0] + """
[generator]
size = 32
latent_dim = 8
width = 8
batch_size = 32
quality_n = 0
cpu = { epochs = 1 }
gpu = { epochs = 5 }

[[run]]
id = "base"
label = "Base"

[[run]]
id = "gsmote"
label = "g-SMOTE"
method = "gsmote"
options = { generator = "@generator" }

[[run]]
id = "gan"
label = "GAN Debiasing"
method = "gan_debias"
options = { generator = "@generator", labeler_run = "@base", samples = 64 }
"""

# A [[cross]] evaluation of every run on a manifest of the synthetic faces ("mine/manifest.csv"
# under the data folder: helpers.write_manifest).
MANIFEST_CROSS = """
[[cross]]
label = "my faces"
dataset = "manifest"
manifest = "mine/manifest.csv"
target = "smiling"
protected = "tone"
positive = "yes"
name = "on-mine"
"""

# What the Ray executor is tested on: a fine-tune chain (base -> asac), a sweep and the row that
# chooses among it, and a cross evaluation of every run on a manifest; 768 training images, so a
# run is long enough to be killed mid-epoch.
_tiny, _sweep = TINY.split("[[run]]"), SWEEP.split("[[run]]")
RAY_GRID = (_tiny[0].replace("n_train = 192", "n_train = 768")
            + "[[run]]".join(["", _tiny[1], _tiny[2], *_sweep[2:]]) + MANIFEST_CROSS)
