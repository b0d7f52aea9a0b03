"""Shared parts of the Spark benchmarks (brief §6.1 and §6.2): the corpus, the store, the three
contenders and the side-by-side timing. Not a benchmark itself; run
`benchmarks/shared_featurization.py` or `benchmarks/overhead.py`.

The corpus
----------
~100,000 review rows generated reproducibly from the 3 × 1000 real UCI sentences: the
sentences are grouped by (site, sentiment) (6 groups of 500); each generated row draws a group
uniformly (the real sets are balanced the same way), then two sentences A and B of that group
with a seeded `random.Random`, and joins the first half of A's words to the second half of B's
(at least one word of A). Both halves come from sentences with the same site and the same
sentiment, so the row keeps both labels consistently: `sentiment` (0/1) and `site_label`
(0 amazon, 1 imdb, 2 yelp). The key is `r0000000`, `r0000001`, ... The rows are written once,
before any timing, to a Parquet file that every contender reads.

The work (the same for every contender)
---------------------------------------
read the corpus -> hash split (xxhash64 of the key, 25 % test, seed 7: ff_assets' rule) ->
RegexTokenizer -> HashingTF (4096) -> IDF fitted on train -> K LogisticRegression models, model
k predicting `sentiment` (k even) or `site_label` (k odd) with regParam 0.01 * (k + 1), each
fitted on train rows; each model is evaluated on the test rows (accuracy, f1), and its
inference pipeline (tokenizer, TF, fitted IDF, fitted model: one Spark `PipelineModel`) is
logged to MLflow (SQLite under a temp dir) with params and metrics and registered as a version.
Stored, by every contender, what the store keeps as tables: the corpus, the split, the
featurized vectors (`text_vector`) and each model's predictions (`pred_k`) as Delta tables
(post-split ones partitioned by the split column), and the fitted stages (Spark ML's writer).
Tokens and term counts are views in the store (recomputed when read), so nobody writes them.
Vectors are stored as ff_assets stores them (`ff_assets.spark.vectors.stored_vectors`: a
plain struct any Delta reader opens, not Spark ML's UDT), by every contender.

Timing: one SparkSession (`ff_assets.spark.session.spark_session`, project defaults) started
before any timing; every contender runs once untimed on a small corpus first (JVM warm-up,
class loading, imports); then `repeat` rounds, each running every contender once on a fresh
output folder (MLflow store and Dagster instance created before the clock starts), the order
rotated each round so that no contender always runs first. Ratios are the median of the
per-round ratios, so load that comes and goes on a shared machine cancels; CPU seconds (this
process and the Spark JVM) are reported beside wall seconds, since other processes competing
for the cores stretch wall time but barely move CPU time.

MLflow keeps its tracking and registry URIs process-wide (and `set_tracking_uri` writes
`MLFLOW_TRACKING_URI`), so before each contender the harness points both at that contender's
fresh store, as a fresh process would resolve them, and ff_assets gets its URI explicitly.
"""

from __future__ import annotations

import gc
import os
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CORPUS_FILE = "corpus.parquet"
KEY = "review_id"
SPLIT_COLUMN = "ff_split"  # the column ff_assets partitions post-split tables by
TEST_FRACTION = 0.25
SPLIT_SEED = 7
BUCKETS = 10_000  # ff_assets' hash split: pmod(xxhash64(key, seed), 10000) < fraction * 10000
LABELS = ("sentiment", "site_label")
NUM_FEATURES = 4096
TOKEN_PATTERN = "[^a-z0-9']+"
EXPERIMENT = "ff_assets"


# -- the corpus --------------------------------------------------------------------------------
def generate_rows(data_dir: Path, rows: int, seed: int) -> list[tuple[str, str, float, float]]:
    """(review_id, text, sentiment, site_label) rows recombined from the real sentences."""
    from ff_assets.examples.data import read_reviews

    groups: dict[tuple[float, float], list[list[str]]] = {}
    for _, text, sentiment, _, site_label in read_reviews(data_dir):
        words = text.split()
        if words:
            groups.setdefault((site_label, sentiment), []).append(words)
    keys = sorted(groups)
    rng = random.Random(seed)
    out = []
    for i in range(rows):
        site_label, sentiment = keys[rng.randrange(len(keys))]
        group = groups[(site_label, sentiment)]
        a, b = group[rng.randrange(len(group))], group[rng.randrange(len(group))]
        words = a[: max(1, len(a) // 2)] + b[len(b) // 2 :]
        out.append((f"r{i:07d}", " ".join(words), sentiment, site_label))
    return out


def write_corpus(spark: Any, data_dir: Path, target: Path, rows: int, seed: int) -> Path:
    """Write the generated corpus as Parquet under `target` (a folder); return the folder."""
    target.mkdir(parents=True, exist_ok=True)
    schema = f"{KEY} string, text string, sentiment double, site_label double"
    frame = spark.createDataFrame(generate_rows(data_dir, rows, seed), schema=schema)
    frame.write.mode("overwrite").parquet(str(target / CORPUS_FILE))
    return target


# -- the models --------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelSpec:
    """Model k: its label, regParam and prediction column (the same for every contender)."""

    index: int
    label: str
    reg_param: float
    max_iter: int

    @property
    def name(self) -> str:
        return f"model_{self.index}"

    @property
    def prediction(self) -> str:
        return f"pred_{self.index}"

    def params(self) -> dict[str, Any]:
        return {
            "featuresCol": "text_vector",
            "labelCol": self.label,
            "predictionCol": self.prediction,
            "regParam": self.reg_param,
            "maxIter": self.max_iter,
        }


def model_specs(k: int, max_iter: int) -> list[ModelSpec]:
    return [
        ModelSpec(
            index=i,
            label=LABELS[i % len(LABELS)],
            reg_param=round(0.01 * (i + 1), 4),
            max_iter=max_iter,
        )
        for i in range(k)
    ]


def featurizer_stages() -> list[Any]:
    """Tokenizer and TF (transformers) and the IDF estimator, as every contender declares them."""
    from pyspark.ml.feature import IDF, HashingTF, RegexTokenizer

    return [
        RegexTokenizer(inputCol="text", outputCol="tokens", pattern=TOKEN_PATTERN),
        HashingTF(inputCol="tokens", outputCol="term_counts", numFeatures=NUM_FEATURES),
        IDF(inputCol="term_counts", outputCol="text_vector", minDocFreq=1),
    ]


def build_store(models: Sequence[ModelSpec]) -> Any:
    """The ff_assets store: source -> split -> tokenizer -> hashing TF -> IDF -> K models."""
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import IDF, HashingTF, RegexTokenizer

    from ff_assets.core import FeatureStore
    from ff_assets.spark.introspect import spark_stage

    store = FeatureStore(
        name="bench",
        description="Generated reviews (benchmark corpus).",
        default_outputs=[m.prediction for m in models],
    )
    store.feature("text", dtype="string")
    store.feature("sentiment", dtype="double")
    store.feature("site_label", dtype="double")
    store.feature("tokens", dtype="array<string>")
    store.feature("text_vector", dtype="vector")

    @store.source(outputs=["text", *LABELS], entity_key=KEY)
    def corpus(spark: Any, data_dir: Path) -> Any:
        """The generated corpus (Parquet)."""
        return spark.read.parquet(str(data_dir / CORPUS_FILE))

    store.split(inputs=["text", *LABELS], test_fraction=TEST_FRACTION, seed=SPLIT_SEED)
    store.add(
        spark_stage(RegexTokenizer, inputCol="text", outputCol="tokens", pattern=TOKEN_PATTERN),
        name="tokenizer",
    )
    store.add(
        spark_stage(
            HashingTF, inputCol="tokens", outputCol="term_counts", numFeatures=NUM_FEATURES
        ),
        name="hashing_tf",
    )
    store.add(
        spark_stage(IDF, inputCol="term_counts", outputCol="text_vector", minDocFreq=1),
        name="tfidf",
    )
    for m in models:
        store.model(spark_stage(LogisticRegression, **m.params()), name=m.name, metric="accuracy")
    return store


# -- plain PySpark helpers (the floor and clone-and-own use nothing of ff_assets) --------------
def split_rows(frame: Any) -> Any:
    """The same train/test assignment as ff_assets' hash split, in plain PySpark."""
    from pyspark.sql import functions as F

    bucket = F.pmod(F.xxhash64(F.col(KEY).cast("string"), F.lit(SPLIT_SEED)), F.lit(BUCKETS))
    cut = int(TEST_FRACTION * BUCKETS)
    return frame.withColumn(
        SPLIT_COLUMN, F.when(bucket < cut, F.lit("test")).otherwise(F.lit("train"))
    )


def write_delta(frame: Any, path: Path, *, partitioned: bool = True) -> None:
    """A Delta table, its vectors stored as the store stores them (the one ff_assets function
    the plain contenders call, so all three write the same tables)."""
    from ff_assets.spark.vectors import stored_vectors

    writer = stored_vectors(frame).write.format("delta").mode("overwrite")
    if partitioned:
        writer = writer.partitionBy(SPLIT_COLUMN)
    writer.save(str(path))


def evaluate(scored: Any, label: str, prediction: str) -> dict[str, float]:
    from pyspark.ml.evaluation import MulticlassClassificationEvaluator

    return {
        f"test_{name}": float(
            MulticlassClassificationEvaluator(
                labelCol=label, predictionCol=prediction, metricName=name
            ).evaluate(scored)
        )
        for name in ("accuracy", "f1")
    }


def log_and_register(
    pipeline: Any, spec: ModelSpec, metrics: Mapping[str, float], experiment_id: str
) -> str:
    """One MLflow run: params, metrics, the inference pipeline, registered as a new version."""
    import mlflow
    import mlflow.spark
    import pyspark

    with mlflow.start_run(experiment_id=experiment_id, run_name=spec.name):
        mlflow.log_params({f"{spec.name}.{k}": v for k, v in spec.params().items()})
        mlflow.log_metrics(dict(metrics))
        info = mlflow.spark.log_model(
            pipeline,
            artifact_path="inference_pipeline",
            registered_model_name=f"bench.{spec.prediction}",
            pip_requirements=[f"pyspark=={pyspark.__version__}"],
        )
    return str(info.registered_model_version)


# -- a prepared workspace: what exists before the clock starts ----------------------------------
@dataclass
class Workspace:
    """A fresh folder with its MLflow store (migrated, experiment created) and, for ff_assets,
    its Dagster instance: project setup, not the work being timed."""

    root: Path
    tracking_uri: str
    experiment_id: str
    instance: Any = None
    run_id: str | None = None  # the Dagster run, when there is one

    @classmethod
    def prepare(cls, parent: Path, name: str, *, dagster: bool) -> Workspace:
        from ff_assets.config import ProjectPaths
        from ff_assets.tracking.registry import ensure_experiment, tracking_client

        root = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=parent))
        paths = ProjectPaths.resolve(root)
        client = tracking_client(paths.mlflow_tracking_uri)  # creates and migrates the store
        experiment_id = ensure_experiment(client, EXPERIMENT, paths.mlflow_artifacts)
        instance = None
        if dagster:
            from dagster import DagsterInstance

            paths.dagster_home.mkdir(parents=True, exist_ok=True)
            instance = DagsterInstance.from_config(str(paths.dagster_home))
        return cls(root, paths.mlflow_tracking_uri, experiment_id, instance)

    def use_mlflow(self) -> None:
        """Point MLflow's process-wide tracking and registry URIs at this workspace.

        MLflow keeps both in process globals and in `MLFLOW_TRACKING_URI`/`MLFLOW_REGISTRY_URI`
        (`set_tracking_uri` writes the environment variable), so one contender would otherwise
        leave the next one pointing at its (deleted) store.
        """
        import mlflow

        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)

    def dispose(self) -> None:
        if self.instance is not None:
            self.instance.dispose()
        shutil.rmtree(self.root, ignore_errors=True)


def clear_mlflow_runs() -> None:
    """Pop MLflow's fluent active-run stack (dagster-mlflow leaves its run active in-process)."""
    import mlflow

    while mlflow.active_run() is not None:
        mlflow.end_run()


# -- the contenders ----------------------------------------------------------------------------
Result = dict[str, float]  # model name -> test accuracy


def run_ff_assets(
    spark: Any,
    corpus: Path,
    ws: Workspace,
    models: Sequence[ModelSpec],
    *,
    statistics: bool = True,
) -> Result:
    """ff_assets: build the definitions of the store and materialize it in one Dagster run
    (both partitions), as `materialize_store` does; `statistics=False` as `ff-assets
    materialize --no-statistics` (its checks still run)."""
    from ff_assets.orchestration import build_definitions
    from ff_assets.orchestration.jobs import materialize_job_name
    from ff_assets.orchestration.materialize import run_job

    store = build_store(models)
    defs = build_definitions(
        [store], home=str(ws.root), data_dir=str(corpus), mlflow_tracking_uri=ws.tracking_uri,
        feature_statistics=statistics,
    )  # fmt: skip
    try:
        result = run_job(defs, materialize_job_name(store.name), ws.instance)
    finally:
        clear_mlflow_runs()
    if not result.success:
        failures = [e.message for e in result.all_events if e.is_step_failure]
        raise RuntimeError(f"ff_assets run failed: {failures}")
    ws.run_id = result.run_id
    accuracy = {}
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization  # type: ignore[union-attr]
        name = mat.asset_key.path[-1]
        if name.endswith("_registered"):
            accuracy[name.removesuffix("_registered")] = float(mat.metadata["test_accuracy"].value)
    return accuracy


def run_floor(
    spark: Any,
    corpus: Path,
    ws: Workspace,
    models: Sequence[ModelSpec],
    *,
    all_tables: bool = True,
) -> Result:
    """The floor: one hand-written PySpark script that featurizes once (cached) and fits K
    models on the cached train vectors. With `all_tables` (the default) it keeps what the
    store keeps as tables: the corpus, the split, the vectors, each model's predictions (Delta)
    and the fitted IDF and models (Spark ML's writer); tokens and term counts are views in
    the store, so neither contender writes them. Without it, only vectors and predictions."""
    from pyspark.ml import PipelineModel
    from pyspark.ml.classification import LogisticRegression

    ws.use_mlflow()
    tables = ws.root / "tables"
    raw = spark.read.parquet(str(corpus / CORPUS_FILE))
    rows = split_rows(raw)
    tokenizer, tf, idf = featurizer_stages()
    if all_tables:
        rows = rows.cache()
        write_delta(rows.drop(SPLIT_COLUMN), tables / "corpus", partitioned=False)
        write_delta(rows, tables / "split")
    counts = tf.transform(tokenizer.transform(rows))
    idf_model = idf.fit(counts.where(counts[SPLIT_COLUMN] == "train"))
    if all_tables:
        idf_model.write().overwrite().save(str(ws.root / "fitted" / "tfidf"))
    vectors = idf_model.transform(counts).select(KEY, "text_vector", *LABELS, SPLIT_COLUMN)
    vectors = vectors.cache()
    write_delta(vectors.select(KEY, "text_vector", SPLIT_COLUMN), tables / "text_vector")
    if all_tables:
        rows.unpersist()
    train = vectors.where(vectors[SPLIT_COLUMN] == "train")
    accuracy = {}
    for spec in models:
        lr = LogisticRegression(**spec.params()).fit(train)
        if all_tables:
            lr.write().overwrite().save(str(ws.root / "fitted" / spec.name))
        scored = lr.transform(vectors).cache()
        write_delta(scored.select(KEY, spec.prediction, SPLIT_COLUMN), tables / spec.prediction)
        test = scored.where(scored[SPLIT_COLUMN] == "test")
        metrics = evaluate(test, spec.label, spec.prediction)
        scored.unpersist()
        pipeline = PipelineModel(stages=[tokenizer, tf, idf_model, lr])
        log_and_register(pipeline, spec, metrics, ws.experiment_id)
        accuracy[spec.name] = metrics["test_accuracy"]
    vectors.unpersist()
    return accuracy


def run_clone_and_own(
    spark: Any, corpus: Path, ws: Workspace, models: Sequence[ModelSpec]
) -> Result:
    """Clone and own: K hand-wired Spark ML Pipelines (tokenizer, TF, IDF, model), each fitted
    on the train rows and applied to all rows, so each redoes the featurization. The first
    writes the corpus, split and vectors tables; each saves its fitted pipeline, writes its
    predictions and logs its own PipelineModel."""
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression

    ws.use_mlflow()
    tables = ws.root / "tables"
    accuracy = {}
    for spec in models:
        rows = split_rows(spark.read.parquet(str(corpus / CORPUS_FILE)))
        stages = [*featurizer_stages(), LogisticRegression(**spec.params())]
        if spec.index == 0:
            write_delta(rows.drop(SPLIT_COLUMN), tables / "corpus", partitioned=False)
            write_delta(rows, tables / "split")
        fitted = Pipeline(stages=stages).fit(rows.where(rows[SPLIT_COLUMN] == "train"))
        fitted.write().overwrite().save(str(ws.root / "fitted" / spec.name))
        scored = fitted.transform(rows).cache()
        if spec.index == 0:
            write_delta(scored.select(KEY, "text_vector", SPLIT_COLUMN), tables / "text_vector")
        write_delta(scored.select(KEY, spec.prediction, SPLIT_COLUMN), tables / spec.prediction)
        test = scored.where(scored[SPLIT_COLUMN] == "test")
        metrics = evaluate(test, spec.label, spec.prediction)
        scored.unpersist()
        log_and_register(fitted, spec, metrics, ws.experiment_id)
        accuracy[spec.name] = metrics["test_accuracy"]
    return accuracy


Contender = Callable[[Any, Path, Workspace, Sequence[ModelSpec]], Result]


# -- timing ------------------------------------------------------------------------------------
@dataclass
class Timings:
    """Seconds per contender per round, and the results each round produced."""

    names: Sequence[str]
    seconds: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)  # CPU seconds, JVM + Python
    results: dict[str, Result] = field(default_factory=dict)
    steps: dict[str, list[dict[str, float]]] = field(default_factory=dict)  # Dagster step stats

    def median(self, name: str, *, cpu: bool = False) -> float:
        return statistics.median((self.cpu if cpu else self.seconds)[name])

    def ratio(self, a: str, b: str, *, cpu: bool = False) -> tuple[float, float, float]:
        """Median, min and max over rounds of a's time / b's time in the same round."""
        times = self.cpu if cpu else self.seconds
        ratios = [x / y for x, y in zip(times[a], times[b], strict=True)]
        return statistics.median(ratios), min(ratios), max(ratios)


def run_rounds(
    spark: Any,
    corpus: Path,
    contenders: Mapping[str, tuple[Contender, bool]],
    models: Sequence[ModelSpec],
    *,
    repeat: int,
    workdir: Path,
    progress: Callable[[str], None] = print,
) -> Timings:
    """`repeat` rounds of every contender (name -> (function, needs a Dagster instance)), the
    order rotated each round; each run gets a fresh prepared workspace."""
    names = list(contenders)
    timings = Timings(names=names, seconds={n: [] for n in names}, cpu={n: [] for n in names})
    for round_index in range(repeat):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            function, dagster = contenders[name]
            ws = Workspace.prepare(workdir, name, dagster=dagster)
            ws.use_mlflow()  # as a fresh process would resolve it (see `use_mlflow`)
            spark.catalog.clearCache()
            gc.collect()
            cpu_start = cpu_seconds(spark)
            start = time.perf_counter()
            result = function(spark, corpus, ws, models)
            elapsed = time.perf_counter() - start
            timings.cpu[name].append(cpu_seconds(spark) - cpu_start)
            if ws.instance is not None and ws.run_id:
                timings.steps.setdefault(name, []).append(step_seconds(ws.instance, ws.run_id))
            ws.dispose()
            timings.seconds[name].append(elapsed)
            timings.results[name] = result
            progress(
                f"  round {round_index + 1}/{repeat}: {name:<14} {elapsed:8.2f} s  "
                f"({timings.cpu[name][-1]:6.1f} CPU s)"
            )
    return timings


def print_timings(timings: Timings) -> None:
    """Seconds per contender (median, min, max, every round) and median CPU seconds."""
    header = (
        f"{'contender':<14} | {'median s':>8} | {'min s':>7} | {'max s':>7} | {'CPU s':>6} | "
        "rounds (s)"
    )
    print(header)
    print("-" * len(header))
    for name in timings.names:
        runs = timings.seconds[name]
        rounds = " ".join(f"{s:.1f}" for s in runs)
        print(
            f"{name:<14} | {timings.median(name):8.2f} | {min(runs):7.2f} | {max(runs):7.2f} | "
            f"{timings.median(name, cpu=True):6.1f} | {rounds}"
        )


def print_ratio(timings: Timings, a: str, b: str, note: str) -> None:
    """`a / b` in wall time (median of the per-round ratios, their range, the ratio of the
    fastest runs) and in CPU time (median of the per-round ratios)."""
    ratio, low, high = timings.ratio(a, b)
    best = min(timings.seconds[a]) / min(timings.seconds[b])
    cpu = timings.ratio(a, b, cpu=True)[0]
    print(
        f"{a + ' / ' + b:<27} = {ratio:5.2f}  (rounds {low:.2f}..{high:.2f}, fastest runs "
        f"{best:.2f}; CPU {cpu:.2f})  {note}"
    )


def cpu_seconds(spark: Any) -> float:
    """CPU seconds used so far by this Python process and the Spark driver JVM (with its
    children): unlike wall time, barely moved by other processes competing for the cores."""
    ticks = os.sysconf("SC_CLK_TCK")
    root = spark.sparkContext._gateway.proc.pid  # the JVM (spark-submit execs java)
    parents: dict[int, int] = {}
    stats: dict[int, list[str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        stats[int(entry)] = fields
    family = {root}
    changed = True
    while changed:
        changed = False
        for pid, parent in parents.items():
            if parent in family and pid not in family:
                family.add(pid)
                changed = True
    jvm = sum(int(stats[p][11]) + int(stats[p][12]) for p in family if p in stats)
    jvm += int(stats[root][13]) + int(stats[root][14]) if root in stats else 0  # reaped children
    return jvm / ticks + time.process_time()


def same_results(results: Mapping[str, Result], tolerance: float = 0.005) -> str:
    """Whether every contender reached the same test accuracies (a check that the work is the
    same): 'yes', or the differences."""
    names = list(results)
    first = results[names[0]]
    problems = []
    for name in names[1:]:
        other = results[name]
        if set(other) != set(first):
            problems.append(f"{name} fitted {sorted(other)}, {names[0]} {sorted(first)}")
            continue
        for model, value in first.items():
            if abs(other[model] - value) > tolerance:
                problems.append(f"{model}: {names[0]} {value:.4f} vs {name} {other[model]:.4f}")
    return "yes" if not problems else "NO: " + "; ".join(problems)


def start_spark() -> Any:
    """The project's SparkSession (its defaults), started before any timing."""
    from ff_assets.spark.session import spark_session

    spark = spark_session(app_name="ff_assets_benchmark")
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def machine_load() -> str:
    """`uptime`'s load averages and the CPU count, to read the numbers against."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def step_seconds(instance: Any, run_id: str) -> dict[str, float]:
    """Seconds per step of a Dagster run, from the instance's step stats (asset checks are
    steps of their own)."""
    return {
        stat.step_key: (stat.end_time or 0.0) - (stat.start_time or 0.0)
        for stat in instance.get_run_step_stats(run_id)
    }


CHECK_STEPS = ("_schema_matches_declaration", "_train_test_disjoint", "_fit_rows_are_train")


def print_steps(steps: Sequence[dict[str, float]], totals: Sequence[float], top: int = 40) -> None:
    """Median seconds per Dagster step over rounds, biggest first, with the share of the run;
    `totals` are the runs' wall times, in the same order as `steps`."""
    keys = {k for run in steps for k in run}
    median = {k: statistics.median(run.get(k, 0.0) for run in steps) for k in keys}
    total = statistics.median(totals)
    outside = statistics.median(t - sum(run.values()) for run, t in zip(steps, totals, strict=True))
    checks = [k for k in keys if k.endswith(CHECK_STEPS)]
    in_checks = sum(median[k] for k in checks)
    print(
        f"Dagster steps of the ff_assets run (median of {len(steps)} runs): {len(keys)} steps, "
        f"{len(checks)} of them asset checks ({in_checks:.1f} s, "
        f"{100 * in_checks / total:.0f} %); outside steps (definitions, run start and end): "
        f"{outside:.1f} s of {total:.1f} s"
    )
    for key, value in sorted(median.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {value:7.2f} s  {100 * value / total:5.1f} %  {key}")


# -- where the time goes (cProfile) -------------------------------------------------------------
# Each category: the functions whose cumulative time it counts, as (path fragment, function name
# or None for every function of the file); a call made from inside the same category is not
# counted twice. Python waits for the JVM inside these calls, so Spark's time lands on them.
BREAKDOWN: tuple[tuple[str, tuple[tuple[str, str | None], ...]], ...] = (
    (
        "Dagster run creation + event log (SQLite)",
        (
            ("dagster/_core/instance/methods/event_methods.py", "handle_new_event"),
            ("dagster/_core/instance/methods/run_methods.py", "create_run_for_job"),
        ),
    ),
    (
        "blocking checks (split overlap, source keys, fit rows)",
        (
            ("ff_assets/spark/execute.py", "overlap"),
            ("ff_assets/spark/execute.py", "key_problems"),
            ("ff_assets/spark/engine.py", "_check_keys"),
            ("ff_assets/spark/engine.py", "_keys_in_both"),
            ("ff_assets/spark/engine.py", "_fit_check"),
        ),
    ),
    (
        "token statistics (an aggregation over a sample's tokens)",
        (("ff_assets/spark/statistics.py", "token_statistics"),),
    ),
    (
        "statistics' pictures and tables (SVG, Markdown)",
        (
            ("ff_assets/charts.py", "histograms_markdown"),
            ("ff_assets/spark/statistics.py", "statistics_markdown"),
        ),
    ),
    (
        "statistics' aggregates built (SQL text to Columns)",
        (("ff_assets/spark/statistics.py", "statistics_aggregates"),),
    ),
    (
        "Delta table writes (DataFrameWriter.save; observed statistics inside)",
        (("pyspark/sql/readwriter.py", "save"),),
    ),
    (
        "feature statistics (an aggregation of their own)",
        (("ff_assets/spark/statistics.py", "feature_statistics"),),
    ),
    ("Spark ML fits (Estimator.fit)", (("pyspark/ml/base.py", "fit"),)),
    ("evaluations (Evaluator.evaluate)", (("pyspark/ml/evaluation.py", "evaluate"),)),
    ("MLflow log_model (+ registration)", (("mlflow/spark/__init__.py", "log_model"),)),
    (
        "other MLflow calls (runs, params, metrics, tags)",
        (
            ("mlflow/tracking/fluent.py", None),
            ("mlflow/tracking/client.py", None),
        ),
    ),
    (
        "fitted stages saved / loaded (Spark ML writer)",
        (
            ("pyspark/ml/util.py", "save"),
            ("pyspark/ml/util.py", "load"),
        ),
    ),
)


def breakdown(stats: Any, total: float) -> list[tuple[str, float]]:
    """Seconds per BREAKDOWN category in a `pstats.Stats`, attributed in order: a call made
    (directly or through helpers only they call) from an earlier category, or from the same
    category, is not counted again."""
    entries = stats.stats  # {(file, line, function): (cc, nc, tt, cumulative, callers)}

    def matches(key: tuple[str, int, str], rules: tuple[tuple[str, str | None], ...]) -> bool:
        path, _, function = key
        return any(frag in path and (name is None or name == function) for frag, name in rules)

    def close(claimed: set) -> set:
        """Add every function whose callers are all claimed: it runs only inside them."""
        changed = True
        while changed:
            changed = False
            for key, (*_, callers) in entries.items():
                if key not in claimed and callers and all(c in claimed for c in callers):
                    claimed.add(key)
                    changed = True
        return claimed

    claimed: set = set()
    rows = []
    for label, rules in BREAKDOWN:
        own = {key for key in entries if matches(key, rules)}
        inside = close(claimed | own)
        seconds = 0.0
        for key in own:
            cumulative, callers = entries[key][3], entries[key][4]
            free = [c for c in callers if c not in inside]
            if not callers or len(free) == len(callers):
                seconds += cumulative
            else:
                seconds += sum(callers[c][3] for c in free)
        claimed = inside
        rows.append((label, seconds))
    rest = total - sum(seconds for _, seconds in rows)
    rows.append(("everything else (Spark reads/joins/caches, Python)", rest))
    return rows


def profile_once(
    function: Contender,
    spark: Any,
    corpus: Path,
    models: Sequence[ModelSpec],
    workdir: Path,
    *,
    dagster: bool,
    path: str | None = None,
) -> tuple[float, list[tuple[str, float]]]:
    """Run a contender once under cProfile (untimed by the rounds); its seconds and breakdown."""
    import cProfile
    import pstats

    from ff_assets.orchestration import assets

    ws = Workspace.prepare(workdir, "profile", dagster=dagster)
    ws.use_mlflow()
    spark.catalog.clearCache()
    profiler = cProfile.Profile()
    # cProfile sees the thread it runs in: the profiled run iterates the engine inline instead
    # of one outcome ahead in a thread, so the engine's time shows up in the breakdown (its
    # rows add up, un-overlapped, to somewhat more than the timed rounds take).
    ahead, assets.computed_ahead = assets.computed_ahead, lambda outcomes, spark: outcomes
    start = time.perf_counter()
    try:
        profiler.runcall(function, spark, corpus, ws, models)
    finally:
        assets.computed_ahead = ahead
    elapsed = time.perf_counter() - start
    ws.dispose()
    if path:
        profiler.dump_stats(path)
    return elapsed, breakdown(pstats.Stats(profiler), elapsed)


def print_breakdowns(columns: Mapping[str, tuple[float, list[tuple[str, float]]]]) -> None:
    """The breakdowns of profiled runs side by side (seconds and share of each run)."""
    names = list(columns)
    labels = [label for label, _ in next(iter(columns.values()))[1]]
    width = max(len(label) for label in [*labels, "total"])
    print("where the time goes (one extra cProfiled run each; cProfile adds a little):")
    header = f"{'':<{width}} | " + " | ".join(f"{n:>16}" for n in names)
    print(header)
    print("-" * len(header))
    for i, label in enumerate(labels):
        cells = []
        for name in names:
            total, rows = columns[name]
            seconds = rows[i][1]
            cells.append(f"{seconds:7.1f} s {100 * seconds / total:4.0f} %")
        print(f"{label:<{width}} | " + " | ".join(f"{c:>16}" for c in cells))
    totals = " | ".join(f"{columns[n][0]:7.1f} s {100:4d} %" for n in names)
    print(f"{'total':<{width}} | {totals}")


def quiet_logs() -> None:
    """Keep Dagster's and MLflow's per-event logging off the benchmark's output."""
    import logging

    for name in ("dagster", "mlflow", "py4j", "alembic"):
        logging.getLogger(name).setLevel(logging.ERROR)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def measure(
    args: Any,
    source: Path,
    contenders: Mapping[str, Any],
    models: Sequence[ModelSpec],
    *,
    baseline: str,
) -> tuple[Timings, dict[str, Any]]:
    """The timed part both benchmarks share: one Spark session, the corpora, an untimed
    warm-up round, `args.repeat` timed rounds, and (with --breakdown) one profiled run of
    ff_assets and of `baseline`."""
    spark = start_spark()
    profiles: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="ff_bench_") as tmp:
        work = Path(tmp)
        warm = write_corpus(spark, source, work / "warmup", args.warmup_rows, args.seed)
        corpus = write_corpus(spark, source, work / "corpus", args.rows, args.seed)
        print(f"warm-up on {args.warmup_rows:,} rows (untimed) ...")
        warmup = run_rounds(
            spark, warm, contenders, models, repeat=1, workdir=work, progress=lambda _: None
        )
        print(f"  same test accuracies on the warm-up corpus: {same_results(warmup.results)}")
        timings = run_rounds(spark, corpus, contenders, models, repeat=args.repeat, workdir=work)
        if args.breakdown:
            for name, path in (("ff_assets", args.profile), (baseline, None)):
                function, dagster = contenders[name]
                profiles[name] = profile_once(
                    function, spark, corpus, models, work, dagster=dagster, path=path
                )
    print(f"after: {machine_load()}")
    return timings, profiles


def summary(timings: Timings, baselines: Sequence[str]) -> dict[str, Any]:
    """Medians and ratios of one measurement, for the JSON results."""
    return {
        "median_s": {n: round(timings.median(n), 3) for n in timings.names},
        "rounds_s": {n: [round(x, 3) for x in timings.seconds[n]] for n in timings.names},
        "cpu_s": {n: round(timings.median(n, cpu=True), 3) for n in timings.names},
        "ratios": {f"ff_assets/{b}": round(timings.ratio("ff_assets", b)[0], 3) for b in baselines},
        "same_results": same_results(timings.results),
    }


def stamp(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload with the machine and the date it was measured on."""
    import datetime
    import platform

    return {
        **payload,
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
    }


def print_details(args: Any, timings: Timings, profiles: Mapping[str, Any]) -> None:
    """What both Spark benchmarks print after their ratios: whether the contenders reached the
    same accuracies, ff_assets' Dagster steps (--steps) and the breakdown (--breakdown)."""
    print(f"same test accuracies (last round): {same_results(timings.results)}")
    if args.steps and timings.steps.get("ff_assets"):
        print()
        print_steps(timings.steps["ff_assets"], timings.seconds["ff_assets"])
    if profiles:
        print()
        print_breakdowns(profiles)


def add_arguments(parser: Any, baseline: str) -> None:
    """The arguments both Spark benchmarks take (each adds its own before parsing)."""
    parser.add_argument("--rows", type=int, default=100_000, help="generated review rows")
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds")
    parser.add_argument("--max-iter", type=int, default=100, help="LogisticRegression maxIter")
    parser.add_argument("--seed", type=int, default=2015, help="corpus generation seed")
    parser.add_argument("--warmup-rows", type=int, default=1_000)
    parser.add_argument("--data-dir", default=None, help="the UCI data (default ../shared/data)")
    parser.add_argument("--steps", action="store_true", help="print ff_assets' Dagster steps")
    parser.add_argument(
        "--breakdown", action="store_true", help=f"profile one more run of ff_assets and {baseline}"
    )
    parser.add_argument("--profile", metavar="FILE", help="with --breakdown: ff_assets' pstats")
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON here")
