"""Training and graph hyper-parameters (plain dataclasses: importing them costs no torch/dgl)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class GraphConfig:
    tau_days: float = 60.0  # age at which an interaction counts e^-1 as much as a fresh one
    decay_floor: float = 0.0  # lower bound of the decay factor, so a long-silent user keeps some signal
    interest_weight: float = 1.0  # tag edge weight relative to an average interaction edge
    # optional decay relative to the user's own latest interaction (0 = off): favours what a
    # user did last over what they did long before, however long ago their last visit was
    user_tau_days: float = 0.0
    use_interests: bool = True
    # user-user ties (FOLLOWS) as their own relation type, weighted relative to an average
    # interaction edge (0 = off) and decayed by the tie's age with social_tau_days (0: tau_days)
    social_weight: float = 0.0
    social_tau_days: float = 0.0


@dataclass(frozen=True)
class Cluster:
    """Where distributed training (TrainConfig.distributed > 0) runs: training.distributed.launch."""

    # machine k's address as the others reach it, machine 0 being the host that launches;
    # (): every partition on this host, over 127.0.0.1 and free ports
    hosts: tuple[str, ...] = ()
    workdir: str = ""  # where job directories go, the same path on every machine; "": the temp dir
    # how a process starts on another machine: {host}, and {command} (one shell word)
    remote: str = "ssh -tt -o BatchMode=yes {host} {command}"
    port: int = 30050  # with hosts: machine k's server listens on port + k, the trainers meet at port + machines
    timeout_s: float = 3600.0  # the most a training may take before every process is stopped


@dataclass(frozen=True)
class TrainConfig:
    """Defaults tuned on MovieLens-100K (bench/quality.py) within a ~30 s CPU budget.

    propagation "full": every step propagates over the whole graph, so few large batches
    with a high learning rate train fastest. An epoch takes at most `steps_per_epoch`
    steps (the batch grows with the graph beyond batch_size × steps_per_epoch positives),
    so its cost is linear in the edges, not quadratic. With `lr_scale_max` > 1 a batch
    grown past batch_size takes a learning rate scaled by sqrt(batch / batch_size) (the
    square-root rule for Adam), at most that many times: on the 1M-event graph (3x) the
    GNN stopped after 11 epochs instead of 17-18 (the refresh 171 s instead of 191 s), but
    the served blend's NDCG@20 fell 0.0778 -> 0.0736 on that run, so it is off by default.
    The loss of a large batch is computed `loss_chunk` positives at a time (one propagation
    per step all the same), so its memory does not grow with the batch.
    "sampled": each step propagates
    over blocks sampled around its users and items (`fanouts` per layer, training.blocks),
    `sampled_batch_size` positives at a time; linear too, and what runs when the graph
    does not fit one step (or one machine: training.distributed).
    Dynamic hard negatives (best of 4 candidates) converge in half the epochs of uniform
    ones and rank better.
    """

    dim: int = 64
    layers: int = 2
    lr: float = 0.02
    reg: float = 1e-4  # L2 on the base (layer-0) embeddings of each batch
    epochs: int = 30
    batch_size: int = 8192
    propagation: str = "full"  # full | sampled
    steps_per_epoch: int = 10  # full propagation: the most steps an epoch takes
    lr_scale_max: float = 1.0  # full propagation: the most a grown batch scales lr by (1: off; see above)
    # full propagation: positives per piece of a step's loss (16k: ~34 MB of gathered
    # candidates; 8k pieces made a 1M-event step 15 % slower, 32k no faster)
    loss_chunk: int = 16384
    fanouts: tuple[int, ...] = (10, 10)  # sampled propagation: in-edges kept per node, input layer first
    sampled_batch_size: int = 2048
    # > 0: train sampled, over a DistGraph of this many partitions, one DGL server and one
    # trainer process each, where `cluster` says (training.distributed; REFRESH_DIST_*)
    distributed: int = 0
    cluster: Cluster = field(default_factory=Cluster)
    valid_users: int = 5000  # early stopping is measured on at most this many users (a fixed sample)
    # ... and on at most this many scores per evaluation (users x items): a catalogue of 20k
    # items is measured on 1,000 users, so an epoch's evaluation does not grow with it
    valid_scores: int = 20_000_000
    # ... but on at least this many (those with a hold-out): at 200k items the score cap
    # alone left 100 users, whose NDCG moves more between epochs than training does, and
    # early stopping kept epoch 1. 1,000 users x 200k items is ~1.5 s an epoch on 2 cores,
    # against ~100 s of training
    valid_min_users: int = 1000
    negatives: int = 2  # negatives per positive
    hard_negative_frac: float = 0.0  # share of negatives drawn from the positive's interests
    # share of a user's negatives drawn from items shown to the user and ignored, or disliked
    # (train(exposures=...); service EventLog.exposures): issue 16's harder negatives
    exposed_negative_frac: float = 0.5
    # dynamic hard negatives: draw this many candidates per negative and keep the one the
    # current model scores highest (1 = plain uniform sampling)
    negative_candidates: int = 4
    # the text projection's arithmetic (TEXT_PRECISION): auto is bfloat16 on a CPU with
    # native bfloat16, float32 elsewhere (training.text.resolve_precision), so the same seed
    # trains slightly different models on such a CPU and on others (float32 on both: equal)
    text_precision: str = "auto"
    item_bias: bool = False  # learn b_i; exported as one extra dimension (user 1, item b_i, interest 0)
    recency_sampling: float = 0.0  # share of positives drawn by decayed edge weight instead of uniformly
    patience: int = 5  # evaluations without a better valid metric before stopping
    eval_every: int = 1
    select_metric: str = "ndcg@20"
    init_std: float = 0.1
    seed: int = 0
    device: str = "auto"
    progress: bool = True
    graph: GraphConfig = field(default_factory=GraphConfig)
