"""Spark side of ff_assets: the Delta-enabled session and Spark ML stage introspection."""
