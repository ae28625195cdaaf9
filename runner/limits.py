"""Every size threshold of the runner, named once, with the reason for its value."""

# Seeds per job: a job holds every seed's weights and metrics in memory until it is logged.
# Past this, split the range across the jobs of a multirun (python -m runner.split).
MAX_SEEDS_PER_JOB = 10_000_000
# Seeds are held as int64.
MAX_SEED = 2**63 - 1
# Jobs that `python -m runner.split` makes of one range: past this the override is unwieldy.
MAX_SPLIT_JOBS = 100_000

# Every seed's per-row outputs (z, ŷ) are kept, for the predictions tables and child runs,
# while seeds × rows stays below this (~80 MB for the two arrays).
MAX_PREDICTION_CELLS = 5_000_000

# Working memory of one chunk of seeds: a job sizes its chunks (at most chunk_size seeds) so
# the arrays of a chunk (per-row outputs, hidden activations, training buffers) stay within
# this, and refuses a job where even one seed would not fit.
MEMORY_BUDGET = 1 << 30  # 1 GiB
# ...and at most this many cells (seeds × rows × units of the widest layer) per array of a
# chunk: arrays of ~2.4 MB stay in the caches. Evaluating 10⁶ single neurons on 400 rows
# (python benchmarks/million_seeds.py) took 6.2 s with 5,000-seed chunks (2,000,000 cells),
# 4.4 s with 1,000, 4.3 s with 500, 5.0 s with 250 and 8.3 s with 125 (numpy's per-call
# cost); a [8] network's evaluation was the same from 80 to 625 seeds a chunk.
CHUNK_CELLS = 300_000
# A network's weights and biases per seed: past this the network is no small experiment, and
# one seed's activations alone fill the memory budget on modest data.
MAX_PARAMS_PER_SEED = 100_000
# Every seed's network weights are kept (weights.npz, the child runs' weights) while seeds ×
# parameters stays below this (~160 MB); past it they follow from the seeds anyway.
MAX_KEPT_WEIGHTS = 20_000_000
# Seeds trained at once: small enough that a chunk's arrays stay in the processor's caches
# (the training loop makes ~10 passes over them per epoch), and one block of mini-batch
# training's compiled lanes, every lane used (neuron.compiled.lanes_for). 56, not a block of
# 64: at 64 lanes a block's rows are 512 bytes apart, and the rows its kernels walk together
# share L1 cache sets (mini-batches of 32, 1,000 seeds, interleaved medians of five: tanh
# [32] 0.136 s in chunks of 64 against 0.108 in 56, [128] 0.520 against 0.410, relu level to
# 5 % either way; full batch level); results never depend on it.
TRAIN_CHUNK_SEEDS = 56

# From this many split seeds on, their rows are dealt for all seeds at once (neuron.splits'
# holdout_many and kfold_many, ~6 µs a seed, through numba's shuffle, whose import and load
# cost ~0.5 s: what ~10,000 seeds cost one at a time, at ~35 µs; the same rows either way).
SPLITS_AT_ONCE = 10_000

# The parent run's per-seed accuracy series (step = seed) stops here: past it a job would
# write millions of metric rows, and the full table is an artifact anyway.
MAX_SERIES = 10_000
# MLflow's log_batch takes at most this many metrics at once.
MLFLOW_BATCH = 1_000
# A multirun's report reads its jobs' parent runs in pages of this many.
SEARCH_PAGE = 10_000

# Past this many seeds a metric with many distinct values gets a normal-approximation CI:
# the index bootstrap would cost n × resamples draws, and at this n both agree to well
# within the bootstrap's own Monte-Carlo error.
MAX_INDEX_BOOTSTRAP = 100_000
# ...where "many" means more distinct values than this.
MIN_DISTINCT_FOR_NORMAL_CI = 2_048

# Bootstrap resamples per interval (luck.n_resamples): each costs a draw per seed, so past
# this a report takes minutes for nothing (the Monte-Carlo error at 1,000,000 resamples is
# already far below the four decimals the report shows).
MAX_RESAMPLES = 1_000_000
# Training epochs (trainer.epochs): the descent costs epochs × seeds × rows; past this a job
# runs for hours, and the loss has long stopped moving at any learning rate that converges.
MAX_EPOCHS = 1_000_000

# Who logs a job (runner.tracking.lease). A waiting process checks a lock file this often;
LOCK_POLL_SECONDS = 0.1
# a lease kept in a shared store (HTTP server, PostgreSQL) is read this often while waiting,
LEASE_POLL_SECONDS = 1.0
# refreshed this often by its owner's logging loop,
LEASE_REFRESH_SECONDS = 10.0
# and taken over from an owner on another host when its heartbeat is older than this: long
# enough for the longest step between two refreshes (drawing the plots, logging artifacts).
LEASE_EXPIRY_SECONDS = 300.0
# A claim is read back this long after it is written: of two processes that claim at once,
# the one whose claim was overwritten sees it, as long as both write within this time.
LEASE_SETTLE_SECONDS = 1.0

# A SQLite store another process holds a write transaction on (an sqlite3 shell left in
# BEGIN, a stuck job): a job waits this long for it, saying so, before it is refused; a
# transaction of another job, milliseconds long, is waited out within the first probe.
SQLITE_LOCK_WAIT_SECONDS = 60.0
SQLITE_LOCK_PROBE_SECONDS = 2.0

# Processes logging child runs at once (tracking.processes). MLflow's cost per run is mostly
# Python, so a second process on its own core gets through ~1.3-1.8x as many runs; past one
# per core they only take turns, and every writer waits on the same store's write lock.
# Measured on 2 cores, 1000 child runs on a SQLite WAL store (s, two tries, other loads on
# the machine): 1: 16.4, 19.0 · 2: 10.2, 10.4 · 3: 15.3, 9.9 · 4: 18.7, 12.2. A job uses at
# most one per core it may run on, and more than this is refused.
MAX_LOGGING_PROCESSES = 4

# The largest |value| of a weight, a bias or an init parameter: past it a draw's range
# (high - low) or z = w·x + b overflows to inf or nan for ordinary data.
MAX_PARAMETER = 1e100
# MLflow's longest param key; a child run's keys are w.<feature> and w0.<feature>.
MLFLOW_KEY_LENGTH = 250
# What MLflow 3 refuses (mlflow.utils.validation): an experiment or dataset name longer than
# 500 characters, an experiment tag (a saved view) longer than 20,000; and what it cuts with a
# warning (or refuses, under MLFLOW_TRUNCATE_LONG_VALUES=false): a param value past 6,000, a
# run tag past 8,000. Names are checked before a seed is evaluated; the rest is made to fit.
MLFLOW_NAME_LENGTH = 500
MLFLOW_EXPERIMENT_TAG_LENGTH = 20_000
MLFLOW_PARAM_LENGTH = 6_000
MLFLOW_TAG_LENGTH = 8_000

# Values of one list on the command line (dataset.features=[...], seed=[...]): Hydra's
# override parser takes time that grows with the square of a list (0.5 s for 1,600, 1.6 s for
# 3,200 on a 2-core machine, parsed several times per command); past this it is refused.
MAX_LISTED_VALUES = 1_000

# Progress bars on an interactive terminal, only for loops at least this long.
PROGRESS_SEEDS = 100_000
PROGRESS_CHILD_RUNS = 200

# The weight-plane plot draws at most this many seeds, evenly spaced through the job.
MAX_PLOT_POINTS = 20_000

# Speed-ups (runner.speedups), each worth its fork only past a size:
# plots drawn in a forked process while this one logs, from this many child runs;
PARALLEL_PLOTS_FROM = 20
# a second process logging every other child run, from this many child runs;
PARALLEL_CHILDREN_FROM = 40
# MLflow imported and the runs logged by a forked worker, up to this many seeds (past it the
# evaluation hides the import anyway, and the results would take a while to copy over).
WORKER_MAX_SEEDS = 100_000

# Bootstrap resamples of the sources' variance shares: each rebuilds the whole grid of runs.
MAX_SOURCE_RESAMPLES = 2_000
