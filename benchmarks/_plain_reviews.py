"""The reviews example written by hand in PySpark + MLflow: the plain contender of
`benchmarks/example.py`, run as a fresh process (`python benchmarks/_plain_reviews.py HOME DATA`).

It does the work `ff-assets materialize` does for `ff_assets.examples.reviews:store` and keeps
the same things: Delta tables of the source, the split (train, validation, test), both text
vectors and the four predictions (tokens and term counts are views in the store, so neither
writes them); the fitted IDF, Word2Vec and four logistic regressions (Spark ML's writer); per
variant an MLflow run, nested in one run, with params, validation and test metrics and the
inference pipeline, registered as `reviews.<output>.<vectorizer>` with `pip_requirements`
stated. It reads the data with the example's own reader and starts Spark with the project's
session settings, so the two differ only in what ff_assets adds (planning, Dagster, checks,
statistics). It stores vectors as the store does (`stored_vectors`: standard Delta types), so
both write the same tables.
"""

from __future__ import annotations

import sys
from pathlib import Path

SPLIT = "ff_split"
KEY = "review_id"


def main(home: Path, data: Path) -> None:
    import mlflow
    import mlflow.spark
    import pyspark
    from pyspark.ml import PipelineModel
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.evaluation import MulticlassClassificationEvaluator
    from pyspark.ml.feature import IDF, HashingTF, RegexTokenizer, SQLTransformer, Word2Vec
    from pyspark.sql import functions as F

    from ff_assets.examples.data import read_reviews
    from ff_assets.spark.session import spark_session
    from ff_assets.spark.vectors import stored_vectors

    spark = spark_session(app_name="plain_reviews")
    tables = home / "tables" / "reviews"
    uri = f"sqlite:///{home / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = mlflow.MlflowClient(uri, uri)
    experiment = client.create_experiment(
        "plain", artifact_location=(home / "mlartifacts").as_uri()
    )

    def write(frame, name: str, partitioned: bool = True) -> None:
        writer = stored_vectors(frame).write.format("delta").mode("overwrite")
        (writer.partitionBy(SPLIT) if partitioned else writer).save(str(tables / name))

    schema = f"{KEY} string, text string, sentiment double, site string, site_label double"
    raw = spark.createDataFrame(read_reviews(data), schema=schema)
    bucket = F.pmod(F.xxhash64(F.col(KEY).cast("string"), F.lit(7)), F.lit(10_000))
    side = F.when(bucket < 2500, "test").when(bucket < 4000, "validation").otherwise("train")
    rows = raw.withColumn(SPLIT, side).cache()
    write(rows.drop(SPLIT), "reviews_source", partitioned=False)
    write(rows, "split")
    tokenizer = RegexTokenizer(inputCol="text", outputCol="tokens", pattern="[^a-z0-9']+")
    hashing = HashingTF(inputCol="tokens", outputCol="term_counts", numFeatures=4096)
    tokens = tokenizer.transform(rows)
    counts = hashing.transform(tokens).cache()
    train = F.col(SPLIT) == "train"
    idf = IDF(inputCol="term_counts", outputCol="text_vector", minDocFreq=1).fit(
        counts.where(train)
    )
    w2v = Word2Vec(
        inputCol="tokens", outputCol="text_vector", vectorSize=64, minCount=1, maxIter=5, seed=11
    ).fit(tokens.where(train))
    vectorizers = {
        "tfidf": ([hashing, idf], idf.transform(counts)),
        "word2vec": ([w2v], w2v.transform(tokens)),
    }
    with mlflow.start_run(experiment_id=experiment, run_name="reviews"):
        for name, (stages, vectors) in vectorizers.items():
            stages[-1].write().overwrite().save(str(home / "fitted" / name))
            vectors = vectors.select(KEY, "text_vector", "sentiment", "site_label", SPLIT).cache()
            write(vectors.select(KEY, "text_vector", SPLIT), f"text_vector__{name}")
            for model, label in (("sentiment", "sentiment"), ("site", "site_label")):
                output = f"{model}_prediction"
                lr = LogisticRegression(
                    featuresCol="text_vector", labelCol=label, predictionCol=output,
                    maxIter=100, regParam=0.01,
                ).fit(vectors.where(train))  # fmt: skip
                lr.write().overwrite().save(str(home / "fitted" / f"{model}_model__{name}"))
                scored = lr.transform(vectors).cache()
                write(scored.select(KEY, output, SPLIT), f"{output}__{name}")
                metrics = {
                    f"{p}_{m}": MulticlassClassificationEvaluator(
                        labelCol=label, predictionCol=output, metricName=m
                    ).evaluate(scored.where(F.col(SPLIT) == p))
                    for p in ("validation", "test")
                    for m in ("accuracy", "f1")
                }
                scored.unpersist()
                copy = SQLTransformer(statement=f"SELECT *, `{output}` AS prediction FROM __THIS__")
                pipeline = PipelineModel(stages=[tokenizer, *stages, lr, copy])
                with mlflow.start_run(run_name=f"{output}[{name}]", nested=True):
                    mlflow.log_params({"model": model, "vectorizer": name, "regParam": 0.01})
                    mlflow.log_metrics(metrics)
                    info = mlflow.spark.log_model(
                        pipeline, artifact_path="inference_pipeline",
                        pip_requirements=[f"pyspark=={pyspark.__version__}"],
                    )  # fmt: skip
                mlflow.register_model(info.model_uri, f"reviews.{output}.{name}")
                print(f"{output}[{name}] test accuracy {metrics['test_accuracy']:.4f}")
            vectors.unpersist()
    spark.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
